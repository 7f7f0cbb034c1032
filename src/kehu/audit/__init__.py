"""Append-only, HMAC-chained audit trail (操作日志)."""
