"""Key material: loaded from the key file (0600) or KEHU_KEYS, never from the database.

Layout (JSON): master keys wrap per-customer data keys (rotation re-wraps, crypto-shredding
drops the wrapped key); blind-index keys are separate from encryption keys; the audit key
makes the audit chain an HMAC chain that cannot be recomputed from database access alone.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
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


@dataclass(frozen=True)
class KeyRing:
    """All keys in memory; `repr` never shows key bytes."""

    master: dict[str, bytes]
    master_active: str
    blind: dict[str, bytes]
    blind_active: str
    audit: bytes
    session: bytes

    def __repr__(self) -> str:
        return f"KeyRing(master={sorted(self.master)}, active={self.master_active}, blind={sorted(self.blind)})"

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
        )

    def to_json(self) -> str:
        """Serialised form for the key file or KEHU_KEYS."""
        return json.dumps(
            {
                "version": 1,
                "master": {"active": self.master_active, "keys": {k: _b64(v) for k, v in self.master.items()}},
                "blind": {"active": self.blind_active, "keys": {k: _b64(v) for k, v in self.blind.items()}},
                "audit": _b64(self.audit),
                "session": _b64(self.session),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> "KeyRing":
        """Parse and check key material."""
        try:
            data = json.loads(text)
            ring = cls(
                master={k: _unb64(v) for k, v in data["master"]["keys"].items()},
                master_active=data["master"]["active"],
                blind={k: _unb64(v) for k, v in data["blind"]["keys"].items()},
                blind_active=data["blind"]["active"],
                audit=_unb64(data["audit"]),
                session=_unb64(data["session"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyError_(f"密钥材料格式错误: {type(exc).__name__}") from None
        if ring.master_active not in ring.master or ring.blind_active not in ring.blind:
            raise KeyError_("活动密钥不存在")
        return ring

    def write(self, path: Path) -> None:
        """Write the key file with mode 0600 (created exclusively; never overwritten)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.to_json())

    def replace_file(self, path: Path) -> None:
        """Atomically replace the key file (rotation), keeping mode 0600."""
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


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
