"""Satisfaction surveys (满意度调查): 5-level questionnaires over configurable items (SPEC §5)."""
