"""AES-256-GCM with a versioned, self-describing ciphertext format.

Format v1:  0x01 | len(key_id) | key_id (ascii) | nonce (12) | ciphertext+tag
Associated data binds a ciphertext to its place (table, field, row), so a value copied
to another row or column fails to decrypt.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1


class DecryptionFailed(Exception):
    """Tampered ciphertext, wrong key or wrong associated data."""


def seal(key: bytes, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and tag; returns the v1 envelope."""
    kid = key_id.encode("ascii")
    nonce = os.urandom(12)
    return bytes([VERSION, len(kid)]) + kid + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def key_id_of(blob: bytes) -> str:
    """The key id recorded in an envelope."""
    if not blob or blob[0] != VERSION:
        raise DecryptionFailed("unknown ciphertext version")
    return blob[2 : 2 + blob[1]].decode("ascii")


def cipher(key: bytes) -> AESGCM:
    """The AES-GCM cipher of a key, for opening several envelopes sealed with it (`open_` takes either)."""
    return AESGCM(key)


def open_(key: bytes | AESGCM, blob: bytes, aad: bytes) -> bytes:
    """Verify and decrypt a v1 envelope (with a key, or the `cipher` of one)."""
    if not blob or blob[0] != VERSION:
        raise DecryptionFailed("unknown ciphertext version")
    start = 2 + blob[1]
    nonce, body = blob[start : start + 12], blob[start + 12 :]
    try:
        return (key if isinstance(key, AESGCM) else AESGCM(key)).decrypt(nonce, body, aad)
    except InvalidTag:
        raise DecryptionFailed("authentication failed") from None
