"""Key material: loaded from the key file (0600) or KEHU_KEYS, never from the database.

Layout (JSON): master keys wrap per-customer data keys (rotation re-wraps, crypto-shredding
drops the wrapped key); blind-index keys are separate from encryption keys; the audit key
makes the audit chain an HMAC chain that cannot be recomputed from database access alone;
backup keys encrypt backup files (kept apart from the data keys so that a backup reader
holds no key to customer data). `retired` lists ids of removed keys (never reused).
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kehu.errors import KehuError


class KeyError_(KehuError):
    """Key material missing or malformed."""

    status = 500
    code = "keys_unavailable"
    message = "密钥不可用"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    raw = base64.b64decode(text)
    if len(raw) != 32:
        raise KeyError_("密钥长度必须为32字节")
    return raw


#: id prefix of each rotatable key kind
PREFIXES = {"master": "m", "blind": "b", "backup": "k"}


@dataclass(frozen=True)
class KeyRing:
    """All keys in memory; `repr` never shows key bytes."""

    master: dict[str, bytes]
    master_active: str
    blind: dict[str, bytes]
    blind_active: str
    audit: bytes
    session: bytes
    backup: dict[str, bytes] = field(default_factory=dict)
    backup_active: str | None = None
    retired: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"KeyRing(master={sorted(self.master)}, active={self.master_active}, blind={sorted(self.blind)}, "
                f"backup={sorted(self.backup)})")

    @classmethod
    def generate(cls) -> "KeyRing":
        """Fresh random keys (for `kehu init` and tests)."""
        return cls(
            master={"m1": secrets.token_bytes(32)},
            master_active="m1",
            blind={"b1": secrets.token_bytes(32)},
            blind_active="b1",
            audit=secrets.token_bytes(32),
            session=secrets.token_bytes(32),
            backup={"k1": secrets.token_bytes(32)},
            backup_active="k1",
        )

    # rotation -------------------------------------------------------------------
    def keys_of(self, kind: str) -> dict[str, bytes]:
        """The keys of one kind (master, blind, backup)."""
        return {"master": self.master, "blind": self.blind, "backup": self.backup}[kind]

    def active_of(self, kind: str) -> str | None:
        """The active key id of one kind."""
        return {"master": self.master_active, "blind": self.blind_active, "backup": self.backup_active}[kind]

    def kind_of(self, key_id: str) -> str | None:
        """Which kind a key id belongs to (None when not in the ring)."""
        return next((k for k in PREFIXES if key_id in self.keys_of(k)), None)

    def with_new_key(self, kind: str) -> tuple["KeyRing", str]:
        """A ring with a fresh key of this kind added and made active; ids are never reused."""
        prefix = PREFIXES[kind]
        used = [int(m.group(1)) for kid in (*self.master, *self.blind, *self.backup, *self.retired)
                if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", kid))]
        kid = f"{prefix}{max(used, default=0) + 1}"
        keys = {**self.keys_of(kind), kid: secrets.token_bytes(32)}
        return replace(self, **{kind: keys, f"{kind}_active": kid}), kid

    def without(self, key_id: str) -> "KeyRing":
        """A ring with a non-active key removed (its id remembered as retired)."""
        kind = self.kind_of(key_id)
        if kind is None:
            raise KeyError_(f"密钥 {key_id} 不在密钥环中")
        if self.active_of(kind) == key_id:
            raise KeyError_(f"密钥 {key_id} 是当前活动密钥，不能退役")
        keys = {k: v for k, v in self.keys_of(kind).items() if k != key_id}
        return replace(self, **{kind: keys}, retired=(*self.retired, key_id))

    # serialisation --------------------------------------------------------------
    def to_json(self) -> str:
        """Serialised form for the key file or KEHU_KEYS."""
        data = {
            "version": 1,
            "master": {"active": self.master_active, "keys": {k: _b64(v) for k, v in self.master.items()}},
            "blind": {"active": self.blind_active, "keys": {k: _b64(v) for k, v in self.blind.items()}},
            "audit": _b64(self.audit),
            "session": _b64(self.session),
        }
        if self.backup:
            data["backup"] = {"active": self.backup_active, "keys": {k: _b64(v) for k, v in self.backup.items()}}
        if self.retired:
            data["retired"] = list(self.retired)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "KeyRing":
        """Parse and check key material (key files without a backup section are accepted)."""
        try:
            data = json.loads(text)
            backup = data.get("backup") or {"active": None, "keys": {}}
            ring = cls(
                master={k: _unb64(v) for k, v in data["master"]["keys"].items()},
                master_active=data["master"]["active"],
                blind={k: _unb64(v) for k, v in data["blind"]["keys"].items()},
                blind_active=data["blind"]["active"],
                audit=_unb64(data["audit"]),
                session=_unb64(data["session"]),
                backup={k: _unb64(v) for k, v in backup["keys"].items()},
                backup_active=backup["active"],
                retired=tuple(data.get("retired", ())),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyError_(f"密钥材料格式错误: {type(exc).__name__}") from None
        if ring.master_active not in ring.master or ring.blind_active not in ring.blind:
            raise KeyError_("活动密钥不存在")
        if ring.backup and ring.backup_active not in ring.backup:
            raise KeyError_("活动备份密钥不存在")
        return ring

    def write(self, path: Path) -> None:
        """Write the key file with mode 0600 (created exclusively; never overwritten)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(path.parent)

    def replace_file(self, path: Path) -> None:
        """Atomically replace the key file (rotation): temp file 0600, fsync, rename, fsync the directory."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(self.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_keyring(*, env_value: str | None, path: Path) -> KeyRing:
    """Key ring from KEHU_KEYS if set, else from the key file (which must not be group/world readable)."""
    if env_value:
        return KeyRing.from_json(env_value)
    if not path.exists():
        raise KeyError_(f"找不到密钥文件 {path}，请先运行 kehu init")
    mode = path.stat().st_mode & 0o077
    if mode:
        raise KeyError_(f"密钥文件 {path} 权限过宽，应为 0600")
    return KeyRing.from_json(path.read_text())


class KeyFileWatch:
    """Notices a replaced key file (rotation by another process) so a running server reloads its ring.

    Checked at most every `interval` seconds, from the crypto calls themselves: a rotation waits
    longer than that before it re-wraps or re-indexes anything.
    """

    def __init__(self, path: Path, *, interval: float = 2.0):
        self.path = path
        self.interval = interval
        self._stamp = self._stat()
        self._next = time.monotonic() + interval

    def _stat(self):
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def poll(self, *, force: bool = False) -> KeyRing | None:
        """The new ring when the file changed since the last look, else None."""
        now = time.monotonic()
        if not force and now < self._next:
            return None
        self._next = now + self.interval
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return None
        self._stamp = stamp
        return load_keyring(env_value=None, path=self.path)
