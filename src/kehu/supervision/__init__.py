"""Supervision: abnormal-access alarms over the audit stream and periodic security check reports (定期安全检查)."""
