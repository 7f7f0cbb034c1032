"""Cryptography: key ring, AES-256-GCM envelope encryption, blind indexes, passwords."""
