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
from kehu.security.keyring import KeyFileWatch, KeyRing

DEK_ID = "d1"
#: stored in place of a wrapped data key that is gone (crypto-shredded, or not restored from a key escrow);
#: not a valid envelope, so every value sealed with that customer's key stays unreadable
NO_KEY = b"\x00no-key"


class Crypto:
    """Encryption and blind-index operations over one key ring."""

    def __init__(self, ring: KeyRing, *, cache_size: int = 4096):
        self.ring = ring
        self._cache: OrderedDict[bytes, tuple] = OrderedDict()  # wrapped DEK → (DEK, its AES-GCM cipher)
        self._cache_size = cache_size
        self._lock = Lock()
        self._watch: KeyFileWatch | None = None

    def follow(self, watch: KeyFileWatch) -> None:
        """Reload the ring when the key file is replaced (online key rotation by `kehu keys rotate`)."""
        self._watch = watch

    def refresh(self, *, force: bool = False) -> None:
        """Pick up a replaced key file (at most every few seconds unless forced)."""
        if self._watch is not None:
            ring = self._watch.poll(force=force)
            if ring is not None:
                self.ring = ring

    # data keys --------------------------------------------------------------
    def new_data_key(self, *, owner: str) -> tuple[bytes, bytes]:
        """A fresh DEK for a customer and its wrapped form for storage."""
        dek = os.urandom(32)
        return dek, self.wrap(dek, owner=owner)

    def wrap(self, dek: bytes, *, owner: str) -> bytes:
        """Seal a DEK under the active master key, bound to its owner row."""
        self.refresh()
        ring = self.ring  # one ring throughout, even if a reload swaps it meanwhile
        return aead.seal(ring.master[ring.master_active], ring.master_active, dek, b"dek:" + owner.encode())

    def unwrap(self, wrapped: bytes, *, owner: str) -> bytes:
        """The DEK inside a wrapped key (small LRU cache)."""
        return self._unwrapped(wrapped, owner)[0]

    def unwrap_cipher(self, wrapped: bytes, *, owner: str):
        """The AES-GCM cipher of the DEK inside a wrapped key (cached with the DEK, dropped with it by `forget`)."""
        return self._unwrapped(wrapped, owner)[1]

    def _unwrapped(self, wrapped: bytes, owner: str) -> tuple:
        with self._lock:
            hit = self._cache.get(wrapped)
            if hit is not None:
                self._cache.move_to_end(wrapped)
                return hit
        kid = aead.key_id_of(wrapped)
        if kid not in self.ring.master:
            self.refresh(force=True)  # re-wrapped by a rotation this process has not seen yet
        key = self.ring.master.get(kid)
        if key is None:
            raise aead.DecryptionFailed(f"master key {kid} not in key ring")
        dek = aead.open_(key, wrapped, b"dek:" + owner.encode())
        hit = (dek, aead.cipher(dek))
        with self._lock:
            self._cache[wrapped] = hit
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return hit

    def forget(self, wrapped: bytes) -> None:
        """Drop a data key from the cache (its customer was crypto-shredded)."""
        with self._lock:
            self._cache.pop(wrapped, None)

    # values -----------------------------------------------------------------
    @staticmethod
    def aad(table: str, field: str, row_id: str) -> bytes:
        """Associated data binding a ciphertext to its place."""
        return f"{table}|{field}|{row_id}".encode()

    def encrypt(self, dek: bytes, value: str, *, table: str, field: str, row_id: str) -> bytes:
        """Seal one value with a customer's DEK."""
        return aead.seal(dek, DEK_ID, value.encode("utf-8"), self.aad(table, field, row_id))

    def decrypt(self, dek, blob: bytes, *, table: str, field: str, row_id: str) -> str:
        """Open one value sealed with a customer's DEK (or with its `aead.cipher`)."""
        return aead.open_(dek, blob, self.aad(table, field, row_id)).decode("utf-8")

    # blind indexes ------------------------------------------------------------
    def blind_index(self, domain: str, normalized: str, *, key_id: str | None = None) -> bytes:
        """HMAC-SHA256 of a normalised value in its domain (mobile, id_number, email, uscc), active key."""
        if key_id is None:
            self.refresh()
        ring = self.ring
        key = ring.blind[key_id or ring.blind_active]
        if domain == "email":  # mailboxes are matched case-insensitively
            normalized = normalized.lower()
        return hmac.new(key, f"{domain}\x00{normalized}".encode(), hashlib.sha256).digest()

    def blind_indexes(self, domain: str, normalized: str) -> list[bytes]:
        """The digest under every blind-index key in the ring, active first: what exact matching compares.

        Outside a blind-index rotation the ring holds one key (one digest). During a rotation rows hold
        digests under the old or the new key, so a lookup matches either until the old key is retired.
        """
        self.refresh()
        ring = self.ring
        first = self.blind_index(domain, normalized, key_id=ring.blind_active)
        return [first] + [self.blind_index(domain, normalized, key_id=k) for k in ring.blind if k != ring.blind_active]
