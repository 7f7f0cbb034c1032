"""Envelope encryption of customer data and blind indexes.

Each customer has its own random 256-bit data key (DEK), stored only wrapped by the active
master key. Level-1 values of that customer (and of its contacts, history, …) are sealed with
the DEK, bound to table/field/row. Dropping the wrapped DEK makes every copy of those values —
including old backups — unreadable (crypto-shredding); master-key rotation only re-wraps DEKs.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from threading import Lock

from kehu.security import aead
from kehu.security.keyring import KeyRing

DEK_ID = "d1"


class Crypto:
    """Encryption and blind-index operations over one key ring."""

    def __init__(self, ring: KeyRing, *, cache_size: int = 4096):
        self.ring = ring
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    # data keys --------------------------------------------------------------
    def new_data_key(self, *, owner: str) -> tuple[bytes, bytes]:
        """A fresh DEK for a customer and its wrapped form for storage."""
        dek = os.urandom(32)
        return dek, self.wrap(dek, owner=owner)

    def wrap(self, dek: bytes, *, owner: str) -> bytes:
        """Seal a DEK under the active master key, bound to its owner row."""
        kid = self.ring.master_active
        return aead.seal(self.ring.master[kid], kid, dek, b"dek:" + owner.encode())

    def unwrap(self, wrapped: bytes, *, owner: str) -> bytes:
        """The DEK inside a wrapped key (small LRU cache)."""
        with self._lock:
            dek = self._cache.get(wrapped)
            if dek is not None:
                self._cache.move_to_end(wrapped)
                return dek
        kid = aead.key_id_of(wrapped)
        if kid not in self.ring.master:
            raise aead.DecryptionFailed(f"master key {kid} not in key ring")
        dek = aead.open_(self.ring.master[kid], wrapped, b"dek:" + owner.encode())
        with self._lock:
            self._cache[wrapped] = dek
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return dek

    # values -----------------------------------------------------------------
    @staticmethod
    def aad(table: str, field: str, row_id: str) -> bytes:
        """Associated data binding a ciphertext to its place."""
        return f"{table}|{field}|{row_id}".encode()

    def encrypt(self, dek: bytes, value: str, *, table: str, field: str, row_id: str) -> bytes:
        """Seal one value with a customer's DEK."""
        return aead.seal(dek, DEK_ID, value.encode("utf-8"), self.aad(table, field, row_id))

    def decrypt(self, dek: bytes, blob: bytes, *, table: str, field: str, row_id: str) -> str:
        """Open one value sealed with a customer's DEK."""
        return aead.open_(dek, blob, self.aad(table, field, row_id)).decode("utf-8")

    # blind indexes ------------------------------------------------------------
    def blind_index(self, domain: str, normalized: str, *, key_id: str | None = None) -> bytes:
        """HMAC-SHA256 of a normalised value in its domain (mobile, id_number, email, uscc)."""
        key = self.ring.blind[key_id or self.ring.blind_active]
        if domain == "email":  # mailboxes are matched case-insensitively
            normalized = normalized.lower()
        return hmac.new(key, f"{domain}\x00{normalized}".encode(), hashlib.sha256).digest()
