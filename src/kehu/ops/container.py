"""The encrypted backup file: AES-256-GCM over a stream of chunks, with an encrypted manifest at the end.

Layout: MAGIC | u32 header length | header JSON | records, each `u32 length | ciphertext+tag`.
The header (plaintext: format, kind, backup key id, salt, chunk size) is the associated data of
every record. A per-file key is derived from the backup key with HKDF over a random salt, and
record i is sealed with nonce `i (11 bytes) | last flag`, so records cannot be reordered,
dropped, duplicated or truncated (the final record — the manifest — carries the flag). The
manifest holds the SHA-256 of the payload, checked again after decryption.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kehu.errors import KehuError

MAGIC = b"KEHUBAK\x01"
CHUNK = 1 << 20


class BackupInvalid(KehuError):
    """A backup file that is damaged, tampered with, truncated or sealed with an unknown key."""

    status = 422
    code = "backup_invalid"
    message = "备份文件无效"


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(hashes.SHA256(), 32, salt, b"kehu-backup-v1").derive(key))


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealedWriter:
    """A write-only file object: payload bytes in, encrypted records out; `close(manifest)` seals it."""

    def __init__(self, out: BinaryIO, *, key: bytes, key_id: str, kind: str, chunk: int = CHUNK):
        salt = os.urandom(32)
        self.header = json.dumps({"format": 1, "kind": kind, "key_id": key_id, "chunk": chunk,
                                  "salt": base64.b64encode(salt).decode()}, sort_keys=True).encode()
        self._aead = _file_key(key, salt)
        self._out, self._chunk = out, chunk
        self._buf = bytearray()
        self._index = 0
        self.sha256 = hashlib.sha256()
        self.size = 0
        out.write(MAGIC + struct.pack(">I", len(self.header)) + self.header)

    def write(self, data: bytes) -> int:
        """Add payload bytes (encrypted a chunk at a time)."""
        self.sha256.update(data)
        self.size += len(data)
        self._buf += data
        while len(self._buf) >= self._chunk:
            self._emit(bytes(self._buf[: self._chunk]), last=False)
            del self._buf[: self._chunk]
        return len(data)

    def _emit(self, data: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index, last), data, self.header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def close(self, manifest: dict) -> dict:
        """Flush the payload and append the manifest (with the payload's SHA-256) as the final record."""
        if self._buf:
            self._emit(bytes(self._buf), last=False)
            self._buf.clear()
        manifest = {**manifest, "payload_sha256": self.sha256.hexdigest(), "payload_bytes": self.size}
        self._emit(json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode(), last=True)
        return manifest


def read_header(src: BinaryIO) -> dict:
    """The plaintext header of a backup file (kind, key id, …), checking the magic."""
    if src.read(len(MAGIC)) != MAGIC:
        raise BackupInvalid("不是 Kehu 备份文件（文件头不符）")
    (n,) = struct.unpack(">I", src.read(4))
    raw = src.read(n)
    try:
        header = json.loads(raw)
    except ValueError:
        raise BackupInvalid("备份文件头已损坏") from None
    header["_raw"] = raw
    return header


class SealedReader:
    """A read-only file object over the decrypted payload; `manifest` is set once the end is reached.

    Every chunk is authenticated before any of its bytes are returned.
    """

    def __init__(self, src: BinaryIO, *, keys: dict[str, bytes]):
        self.header = read_header(src)
        key = keys.get(self.header.get("key_id"))
        if key is None:
            raise BackupInvalid(f"缺少备份密钥 {self.header.get('key_id')}，无法解密此备份")
        self._aead = _file_key(key, base64.b64decode(self.header["salt"]))
        self._src = src
        self._index = 0
        self._pending = self._record()
        self._buf, self._pos = b"", 0
        self.manifest: dict | None = None
        self.sha256 = hashlib.sha256()

    def _record(self) -> bytes | None:
        head = self._src.read(4)
        if not head:
            return None
        if len(head) < 4:
            raise BackupInvalid("备份文件被截断")
        (n,) = struct.unpack(">I", head)
        body = self._src.read(n)
        if len(body) < n:
            raise BackupInvalid("备份文件被截断")
        return body

    def _next(self) -> bytes | None:
        if self._pending is None:
            if self.manifest is None:
                raise BackupInvalid("备份文件被截断（缺少清单）")
            return None
        current, self._pending = self._pending, self._record()
        last = self._pending is None
        try:
            plain = self._aead.decrypt(_nonce(self._index, last), current, self.header["_raw"])
        except InvalidTag:
            raise BackupInvalid(f"备份文件第 {self._index} 块校验失败（被篡改、截断或密钥错误）") from None
        self._index += 1
        if last:
            self.manifest = json.loads(plain)
            if self.sha256.hexdigest() != self.manifest.get("payload_sha256"):
                raise BackupInvalid("备份内容的 SHA-256 校验和与清单不符")
            return None
        self.sha256.update(plain)
        return plain

    def read(self, n: int = -1) -> bytes:
        """Up to n decrypted payload bytes (b"" at the end)."""
        parts = []
        while n != 0:
            if self._pos >= len(self._buf):
                chunk = self._next()
                if chunk is None:
                    break
                self._buf, self._pos = chunk, 0
            take = len(self._buf) - self._pos if n < 0 else min(n, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos : self._pos + take])
            self._pos += take
            if n > 0:
                n -= take
        return b"".join(parts)

    def drain(self) -> dict:
        """Read (and check) everything; the manifest."""
        while self._next() is not None:
            pass
        return self.manifest  # type: ignore[return-value]
