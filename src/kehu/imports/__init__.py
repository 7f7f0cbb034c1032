"""Bulk import of customer files (CSV / Excel): mapping, dry run, report, commit, resume."""
