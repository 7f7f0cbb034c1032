"""Collection channels: the public collection form, API submission by other systems, and the review queue (审核)."""
