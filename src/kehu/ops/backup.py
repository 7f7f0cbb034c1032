"""`kehu backup`: an encrypted, checksummed copy of the store plus a separate key escrow.

Two files per backup, both sealed with the backup key (`container.py`):
- `kehu-<time>.kbak` — the store without any wrapped data key (long retention);
- `kehu-<time>.kkeys` — the customers' wrapped data keys at that moment (short retention,
  `--keep-keys`). A restore takes the data file and the newest key escrow: a customer deleted
  (its key dropped) since then has no key in it, so its encrypted values in every older data
  backup stay unreadable once the escrows made before the deletion have been pruned.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kehu import __version__
from kehu.ops import snapshot as snap
from kehu.ops.container import BackupInvalid, SealedReader, SealedWriter
from kehu.runtime import Kehu
from kehu.security.aead import VERSION, key_id_of
from kehu.security.keyring import KeyRing

DATA, KEYS = ".kbak", ".kkeys"


@dataclass
class BackupResult:
    """The files written and the data file's manifest."""

    path: Path
    keys_path: Path
    manifest: dict


def _seal_to(path: Path, ring: KeyRing, kind: str, fill, manifest: dict) -> dict:
    """Write a sealed file atomically (`.part`, fsync, rename) plus its `.sha256` sidecar."""
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer = SealedWriter(fh, key=ring.backup[ring.backup_active], key_id=ring.backup_active, kind=kind)
            fill(writer)
            manifest = writer.close(manifest)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    path.with_name(path.name + ".sha256").write_text(f"{_file_sha256(path)}  {path.name}\n")
    return manifest


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def create(kehu: Kehu, *, to: Path, keep: int | None = None, keep_keys: int | None = None,
           actor: str = "cli") -> BackupResult:
    """Back up the store into `to` (consistent while the server runs); prune old files when asked."""
    if not to.exists():
        to.mkdir(parents=True, mode=0o700)  # backups and their temporary copy: owner only
    ring = kehu.crypto.ring
    if not ring.backup_active:
        raise snap.OpsFailed("密钥环中没有备份密钥：请运行 kehu keys rotate --backup（或在 KEHU_KEYS 中加入 backup 段）")
    now = datetime.now(timezone.utc)
    stem = f"kehu-{now:%Y%m%dT%H%M%S%fZ}"
    data_path, keys_path = to / f"{stem}{DATA}", to / f"{stem}{KEYS}"
    with tempfile.TemporaryDirectory(dir=to, prefix=".kehu-backup-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o700)
        shot = (snap.take_sqlite(kehu.db.url, work) if kehu.db.dialect == "sqlite"
                else snap.take_postgresql(kehu.db.engine, work))
        manifest = {
            "kind": "data", "engine": kehu.db.dialect, "alembic_revision": shot.revision,
            "kehu_version": __version__, "created_at": now.isoformat(), "counts": shot.counts,
            "audit_head": shot.audit_head, "keys_file": keys_path.name, **shot.extra,
        }

        def fill_data(writer):
            with tarfile.open(fileobj=writer, mode="w|") as tar:
                for f in shot.files:
                    tar.add(f, arcname=f.name)

        manifest = _seal_to(data_path, ring, "data", fill_data, manifest)

    live = [(cid, w) for cid, w in shot.keys if w[:1] == bytes([VERSION])]  # shredded customers have none

    def fill_keys(writer):
        for cid, wrapped in live:
            writer.write(json.dumps({"id": cid, "dek": base64.b64encode(wrapped).decode()}).encode() + b"\n")

    masters = sorted({key_id_of(w) for _, w in live})
    _seal_to(keys_path, ring, "keys", fill_keys, {"kind": "keys", "created_at": now.isoformat(),
                                                  "count": len(live), "for_backup": data_path.name,
                                                  "master_keys": masters})
    if keep:
        prune(to, DATA, keep)
    if keep_keys:
        prune(to, KEYS, keep_keys)
    with kehu.db.transaction() as s:
        kehu.audit.stage(s, action="ops.backup", actor_name=actor, detail={
            "file": data_path.name, "sha256": manifest["payload_sha256"], "customer_keys": len(live)})
    return BackupResult(data_path, keys_path, manifest)


def backups(directory: Path, suffix: str) -> list[Path]:
    """Finished backup files of one kind, oldest first (names sort by time)."""
    return sorted(p for p in directory.glob(f"kehu-*{suffix}") if p.is_file())


def prune(directory: Path, suffix: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` files of a kind (and their checksum sidecars)."""
    files = backups(directory, suffix)
    gone = files[: max(0, len(files) - max(keep, 1))]
    for p in gone:
        p.unlink(missing_ok=True)
        p.with_name(p.name + ".sha256").unlink(missing_ok=True)
    return gone


def verify(path: Path, ring: KeyRing) -> dict:
    """Decrypt and check a backup file end to end (auth tags, order, truncation, SHA-256); its manifest."""
    side = path.with_name(path.name + ".sha256")
    if side.exists():
        if side.read_text().split()[0] != _file_sha256(path):
            raise BackupInvalid("备份文件的 SHA-256 与 .sha256 校验文件不符")
    with open(path, "rb") as fh:
        return SealedReader(fh, keys=ring.backup).drain()


def read_keys(path: Path, ring: KeyRing) -> tuple[dict[str, bytes], dict]:
    """The wrapped data keys of a key escrow file, and its manifest."""
    with open(path, "rb") as fh:
        reader = SealedReader(fh, keys=ring.backup)
        if reader.header.get("kind") != "keys":
            raise BackupInvalid(f"{path.name} 不是密钥托管文件（.kkeys）")
        body = reader.read()
        manifest = reader.drain()
    keys = {}
    for line in body.splitlines():
        item = json.loads(line)
        keys[item["id"]] = base64.b64decode(item["dek"])
    return keys, manifest
