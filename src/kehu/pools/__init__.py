"""Public pool (公海) and private pool (私海): recycling, warnings, claiming, settings."""
