"""Operations: encrypted backups and restore, master/blind-index key rotation."""
