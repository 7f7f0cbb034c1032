"""`kehu restore`: a backup into a fresh SQLite directory or an empty PostgreSQL database, verified.

Steps: decrypt and unpack (every chunk authenticated, payload SHA-256 checked before anything is
used); load (SQLite file / `pg_restore` pre-data → customers' rows → data → post-data); put the
wrapped data keys back from the key escrow (customers missing from it keep `NO_KEY` and lose
their blind indexes: crypto-shredded); then verify — record counts equal the manifest's and the
audit chain checks out with the audit key — and chain an `ops.restore` entry.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, create_engine, inspect, text, update
from sqlalchemy.engine import make_url

from kehu.audit.chain import AuditChain
from kehu.audit.chain import verify as verify_chain
from kehu.db import Database
from kehu.ops import backup as bk
from kehu.ops import snapshot as snap
from kehu.ops.container import BackupInvalid, SealedReader
from kehu.ops.targets import blind_tables, customers
from kehu.security.crypto import NO_KEY
from kehu.security.keyring import KeyRing


PAYLOAD = {"database.sqlite", "database.pgdump", "customers.copy"}  # the only members a backup holds


class TargetNotEmpty(snap.OpsFailed):
    """Restoring over an existing store is refused unless forced."""

    status = 409
    code = "restore_target_not_empty"
    message = "目标数据库非空，拒绝覆盖（确需覆盖请加 --force）"


@dataclass
class RestoreResult:
    """What was restored and how it checked out."""

    url: str
    manifest: dict
    counts_ok: bool
    count_mismatches: dict
    audit_ok: bool
    audit_checked: int
    audit_problem: str | None
    keys_restored: int
    keys_missing: int

    @property
    def ok(self) -> bool:
        """Counts and audit chain both verified."""
        return self.counts_ok and self.audit_ok


def newest_keys(backup: Path) -> Path:
    """The newest key escrow beside a data backup (the one to restore with)."""
    found = bk.backups(backup.parent, bk.KEYS)
    if not found:
        raise snap.OpsFailed(f"{backup.parent} 中没有密钥托管文件（*.kkeys），请用 --keys 指定")
    return found[-1]


def _unpack(path: Path, ring: KeyRing, work: Path) -> dict:
    with open(path, "rb") as fh:
        reader = SealedReader(fh, keys=ring.backup)
        if reader.header.get("kind") != "data":
            raise BackupInvalid(f"{path.name} 不是数据备份文件（.kbak）")
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                if not member.isfile() or member.name not in PAYLOAD:
                    raise BackupInvalid(f"备份中含有意外的条目 {member.name!r}")
                src = tar.extractfile(member)
                with open(work / member.name, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        return reader.drain()  # checks the SHA-256 of everything read


def _is_empty(url: str) -> bool:
    if url.startswith("sqlite"):
        path = snap.sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return True
    eng = create_engine(url)
    try:
        return not inspect(eng).get_table_names()
    finally:
        eng.dispose()


def _clear(url: str) -> None:
    if url.startswith("sqlite"):
        path = snap.sqlite_path(url)
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    eng.dispose()


def _load_sqlite(work: Path, url: str) -> None:
    path = snap.sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    shutil.move(work / "database.sqlite", part)
    os.chmod(part, 0o600)
    os.replace(part, path)


def _load_postgresql(work: Path, url: str, manifest: dict) -> None:
    args, env = snap.pg_args(make_url(url))
    restore = [snap.pg_bin("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", *args]
    dump = str(work / "database.pgdump")
    snap.run([*restore, "--section=pre-data", dump], env)
    cols = ", ".join(f'"{c}"' for c in manifest["customers_columns"])
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, open(work / "customers.copy", "rb") as fh:
                with cur.copy(f"COPY customers ({cols}) FROM STDIN") as copy:
                    while block := fh.read(1 << 20):
                        copy.write(block)
    finally:
        eng.dispose()
    snap.run([*restore, "--section=data", dump], env)
    snap.run([*restore, "--section=post-data", dump], env)


def _put_keys(db: Database, keys: dict[str, bytes], *, batch: int = 2000) -> tuple[int, int]:
    """Wrapped data keys back from the escrow; customers without one lose their blind indexes."""
    cust = customers()
    stmt = update(cust).where(cust.c.id == bindparam("cid")).values(dek=bindparam("k"))
    with db.engine.begin() as conn:
        ids = [r[0] for r in conn.execute(cust.select().with_only_columns(cust.c.id))]
        present = [i for i in ids if keys.get(i, b"")[:1] == b"\x01"]  # an envelope, not a shredded marker
        for start in range(0, len(present), batch):
            conn.execute(stmt, [{"cid": i, "k": keys[i]} for i in present[start:start + batch]])
        shredded = cust.select().with_only_columns(cust.c.id).where(cust.c.dek == NO_KEY)
        for bt in blind_tables(strict=False):
            owner = bt.table.c[bt.owner]
            conn.execute(update(bt.table).where(owner.in_(shredded))
                         .values({c.index: None for c in bt.columns}))
    return len(present), len(ids) - len(present)


def restore(path: Path, ring: KeyRing, *, url: str, keys_path: Path | None = None, force: bool = False,
            actor: str = "cli") -> RestoreResult:
    """Restore a data backup (with the newest key escrow unless given) into a fresh store and verify it."""
    keys_path = keys_path or newest_keys(path)
    keys, keys_manifest = bk.read_keys(keys_path, ring)
    lacking = sorted(set(keys_manifest.get("master_keys", [])) - set(ring.master))
    if lacking:
        raise snap.OpsFailed(f"密钥托管文件 {keys_path.name} 需要主密钥 {', '.join(lacking)}，当前密钥环中没有："
                             "请使用更新的密钥托管文件或包含该主密钥的密钥文件")
    engine = "sqlite" if url.startswith("sqlite") else "postgresql"
    if not _is_empty(url):
        if not force:
            raise TargetNotEmpty()
        _clear(url)
    parent = snap.sqlite_path(url).parent if engine == "sqlite" else None
    if parent:
        parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".kehu-restore-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o700)
        manifest = _unpack(path, ring, work)
        if manifest.get("engine") != engine:
            raise snap.OpsFailed(f"该备份来自 {manifest.get('engine')}，不能恢复到 {engine}")
        if engine == "sqlite":
            _load_sqlite(work, url)
        else:
            _load_postgresql(work, url, manifest)
    db = Database(url)
    try:
        restored, missing = _put_keys(db, keys)
        return _check(db, ring, url, manifest, restored, missing, path, actor)
    finally:
        db.engine.dispose()


def _check(db: Database, ring: KeyRing, url: str, manifest: dict, restored: int, missing: int, path: Path,
           actor: str) -> RestoreResult:
    chain = AuditChain(ring.audit)
    chain.install(db.sessions)
    with db.engine.connect() as conn:
        counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in manifest["counts"]}
    mismatches = {t: (manifest["counts"][t], n) for t, n in counts.items() if n != manifest["counts"][t]}
    with db.reader() as s:
        audit = verify_chain(s, chain)
    head = manifest.get("audit_head") or {}
    if audit.ok and head and audit.checked != head.get("seq"):
        audit.ok, audit.problem = False, f"审计链长度 {audit.checked} 与清单记录的 {head.get('seq')} 不符"
    result = RestoreResult(url, manifest, not mismatches, mismatches, audit.ok, audit.checked, audit.problem,
                           restored, missing)
    if result.ok:
        with db.transaction() as s:
            chain.stage(s, action="ops.restore", actor_name=actor, detail={
                "file": path.name, "sha256": manifest["payload_sha256"], "keys_restored": restored,
                "keys_missing": missing})
    return result
