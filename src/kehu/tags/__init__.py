"""Tags, grades, stars, RFM and segments: rule-based customer tags updated in real time."""
