"""`kehu keys`: online rotation of master, blind-index and backup keys; status; retirement.

Rotation without downtime, in three moves:
1. the new key is added to the key file and made active (atomic replace, under a lock file);
   running servers notice the replaced file within seconds (`KeyFileWatch`) — new data keys are
   then wrapped, and new blind indexes computed, with the new key — and the rotation waits
   `grace` seconds for them;
2. existing rows are brought over in batches, each batch its own transaction, the position kept
   in `ops_key_rotations` so that an interrupted run resumes where it stopped: master keys only
   re-wrap the customers' data keys (the values themselves are untouched; the envelope names
   its key); blind indexes are recomputed from the decrypted value;
3. `kehu keys retire` removes the old key from the key file only when no row references it.

Exact search and duplicate checks keep working throughout: they match the digest under every
blind-index key of the ring (`Crypto.blind_indexes`), so a row is found whether it was
recomputed yet or not; once the old key is retired the ring holds one key again.
"""
from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import bindparam, func, select, update

from kehu.db import utcnow
from kehu.ops.models import KeyRotation
from kehu.ops.snapshot import OpsFailed
from kehu.ops.targets import BlindTable, blind_tables, customers
from kehu.runtime import Kehu
from kehu.security import aead
from kehu.security.crypto import NO_KEY
from kehu.security.keyring import KeyRing, load_keyring

Progress = Callable[[int], None]


def key_path(kehu: Kehu) -> Path:
    """The key file to rotate (rotation needs a file: KEHU_KEYS cannot be rewritten)."""
    if kehu.settings.keys is not None:
        raise OpsFailed("密钥由 KEHU_KEYS 提供，无法在线轮换：请改用密钥文件（KEHU_KEY_FILE）")
    return kehu.settings.resolved_key_file()


@contextmanager
def locked(path: Path) -> Iterator[KeyRing]:
    """The key file's ring, with an exclusive lock held against concurrent rotations."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield load_keyring(env_value=None, path=path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _save(kehu: Kehu, path: Path, ring: KeyRing) -> None:
    ring.replace_file(path)
    kehu.crypto.ring = ring


def prefix(key_id: str) -> bytes:
    """The first bytes of every envelope sealed with this key."""
    kid = key_id.encode("ascii")
    return bytes([aead.VERSION, len(kid)]) + kid


# status ------------------------------------------------------------------------------------------
def master_counts(kehu: Kehu) -> dict[str, int]:
    """Wrapped data keys per master key id (plus `no_key`: shredded or never restored)."""
    cust = customers()
    ring = kehu.crypto.ring
    out = {}
    with kehu.db.reader() as s:
        for kid in [*ring.master, *[r for r in ring.retired if r.startswith("m")]]:
            p = prefix(kid)
            out[kid] = s.execute(select(func.count()).where(func.substr(cust.c.dek, 1, len(p)) == p)).scalar()
        out["no_key"] = s.execute(select(func.count()).where(cust.c.dek == NO_KEY)).scalar()
    return out


def jobs(kehu: Kehu) -> list[dict]:
    """Rotations, newest first."""
    with kehu.db.reader() as s:
        rows = s.execute(select(KeyRotation).order_by(KeyRotation.id.desc()).limit(20)).scalars().all()
        return [{"id": r.id, "kind": r.kind, "new_key": r.new_key, "state": r.state, "rows_done": r.rows_done,
                 "started_at": r.started_at.isoformat(),
                 "finished_at": r.finished_at.isoformat() if r.finished_at else None} for r in rows]


def _blind_rows(kehu: Kehu, bt: BlindTable, *, after: str | None, limit: int, lock: bool, session):
    t, cust = bt.table, customers()
    cols = [t.c.id, *(t.c[c.source] for c in bt.columns), *(t.c[c.index] for c in bt.columns)]
    if t is cust:
        stmt = select(*cols, t.c.id.label("owner"), t.c.dek)
    else:
        stmt = select(*cols, t.c[bt.owner].label("owner"), cust.c.dek).join(cust, cust.c.id == t.c[bt.owner])
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    stmt = stmt.order_by(t.c.id).limit(limit)
    if lock and session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(of=t)
    return session.execute(stmt).all()


def _plain(kehu: Kehu, bt: BlindTable, row) -> list[str | None] | None:
    """The indexed values of a row in clear (None when the customer's key is gone)."""
    if row.dek == NO_KEY or row.dek[:1] != bytes([aead.VERSION]):
        return None
    dek = kehu.crypto.unwrap(row.dek, owner=row.owner)
    return [None if getattr(row, c.source) is None else
            kehu.crypto.decrypt(dek, getattr(row, c.source), table=bt.table.name, field=c.source, row_id=row.id)
            for c in bt.columns]


def blind_counts(kehu: Kehu, *, batch: int = 1000, progress: Progress | None = None) -> dict[str, int]:
    """Blind-index digests per key (decrypting every indexed value); `stale`: matching no key in the ring."""
    ring = kehu.crypto.ring
    out = {k: 0 for k in ring.blind} | {"stale": 0}
    for bt in blind_tables():
        after = None
        while True:
            with kehu.db.reader() as s:
                rows = _blind_rows(kehu, bt, after=after, limit=batch, lock=False, session=s)
            if not rows:
                break
            for row in rows:
                values = _plain(kehu, bt, row)
                for i, c in enumerate(bt.columns):
                    stored = getattr(row, c.index)
                    if stored is None:
                        continue
                    value = values[i] if values else None
                    kid = next((k for k in ring.blind if value is not None and
                                kehu.crypto.blind_index(c.domain, value, key_id=k) == bytes(stored)), "stale")
                    out[kid] += 1
            after = rows[-1].id
            if progress:
                progress(len(rows))
    return out


def total_rows(kehu: Kehu, kind: str) -> int:
    """How many rows a rotation of this kind walks (for the progress bar)."""
    tables = [customers()] if kind == "master" else [bt.table for bt in blind_tables()]
    with kehu.db.reader() as s:
        return sum(s.execute(select(func.count()).select_from(t)).scalar() for t in tables)


# rotation ----------------------------------------------------------------------------------------
def _running(kehu: Kehu, kind: str):
    """(id, new_key) of an unfinished rotation of this kind, or None."""
    with kehu.db.reader() as s:
        return s.execute(select(KeyRotation.id, KeyRotation.new_key)
                         .where(KeyRotation.kind == kind, KeyRotation.state == "running")
                         .order_by(KeyRotation.id.desc())).first()


def start(kehu: Kehu, kind: str, *, actor: str = "cli") -> tuple[int | None, str, bool]:
    """Add a new active key (or find the unfinished rotation to resume): (job id, key id, resumed)."""
    path = key_path(kehu)
    with locked(path) as ring:
        job = _running(kehu, kind) if kind != "backup" else None
        if job is not None:
            if ring.active_of(kind) != job.new_key:
                raise OpsFailed(f"未完成的轮换指向 {job.new_key}，但密钥文件中的活动密钥是 {ring.active_of(kind)}")
            kehu.crypto.ring = ring
            return job.id, job.new_key, True
        ring, kid = ring.with_new_key(kind)
        _save(kehu, path, ring)
        with kehu.db.transaction() as s:  # still under the lock: a second rotation finds this one and resumes it
            kehu.audit.stage(s, action="ops.keys.rotate", actor_name=actor, detail={"kind": kind, "new_key": kid})
            if kind == "backup":
                return None, kid, False
            row = KeyRotation(kind=kind, new_key=kid, state="running", cursor="{}", rows_done=0, actor=actor)
            s.add(row)
            s.flush()
            return row.id, kid, False


def run(kehu: Kehu, job_id: int, *, batch: int = 500, progress: Progress | None = None,
        on_batch: Callable[[int], None] | None = None) -> int:
    """Bring every row over to the rotation's key, batch by batch from the saved position; rows done."""
    with kehu.db.reader() as s:
        job = s.get(KeyRotation, job_id)
        kind, state = job.kind, json.loads(job.cursor or "{}")
    steps = [("customers", None)] if kind == "master" else [(bt.table.name, bt) for bt in blind_tables()]
    total = 0
    for name, bt in steps:
        if state.get(name) == "~done":
            continue
        while True:
            with kehu.db.transaction() as s:
                n, last = (_rewrap_batch(kehu, s, after=state.get(name), limit=batch) if kind == "master" else
                           _reindex_batch(kehu, s, bt, after=state.get(name), limit=batch))
                state[name] = last if n else "~done"
                job = s.get(KeyRotation, job_id, with_for_update=True)
                job.cursor = json.dumps(state)
                job.rows_done += n
            total += n
            if progress and n:
                progress(n)
            if not n:
                break
            if on_batch:
                on_batch(n)
    with kehu.db.transaction() as s:
        job = s.get(KeyRotation, job_id, with_for_update=True)
        job.state, job.finished_at = "done", utcnow()
        kehu.audit.stage(s, action="ops.keys.rotated", actor_name=job.actor or "cli",
                         detail={"kind": kind, "new_key": job.new_key, "rows": job.rows_done})
    return total


def _rewrap_batch(kehu: Kehu, s, *, after: str | None, limit: int) -> tuple[int, str | None]:
    cust = customers()
    stmt = select(cust.c.id, cust.c.dek).order_by(cust.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(cust.c.id > after)
    rows = s.execute(stmt).all()
    if not rows:
        return 0, after
    active = prefix(kehu.crypto.ring.master_active)
    changes = []
    for cid, wrapped in rows:
        wrapped = bytes(wrapped)
        if wrapped.startswith(active) or wrapped[:1] != bytes([aead.VERSION]):
            continue  # already under the new key, or shredded
        dek = kehu.crypto.unwrap(wrapped, owner=cid)
        changes.append({"cid": cid, "old": wrapped, "new": kehu.crypto.wrap(dek, owner=cid)})
    if changes:  # compare-and-set: a row changed meanwhile keeps its own value
        s.execute(update(cust).where(cust.c.id == bindparam("cid"), cust.c.dek == bindparam("old"))
                  .values(dek=bindparam("new")), changes)
    return len(rows), rows[-1][0]


def _reindex_batch(kehu: Kehu, s, bt: BlindTable, *, after: str | None, limit: int) -> tuple[int, str | None]:
    rows = _blind_rows(kehu, bt, after=after, limit=limit, lock=True, session=s)
    if not rows:
        return 0, after
    new_key = kehu.crypto.ring.blind_active
    t = bt.table
    changes = []
    for row in rows:
        values = _plain(kehu, bt, row)
        fresh = {c.index: (None if values is None or values[i] is None else
                           kehu.crypto.blind_index(c.domain, values[i], key_id=new_key))
                 for i, c in enumerate(bt.columns)}
        if any(fresh[c.index] != (bytes(getattr(row, c.index)) if getattr(row, c.index) is not None else None)
               for c in bt.columns):
            changes.append({"rid": row.id, **{f"v_{k}": v for k, v in fresh.items()}})
    if changes:
        s.execute(update(t).where(t.c.id == bindparam("rid"))
                  .values({c.index: bindparam(f"v_{c.index}") for c in bt.columns}), changes)
    return len(rows), rows[-1].id


def rotate(kehu: Kehu, kind: str, *, batch: int = 500, grace: float = 5.0, progress: Progress | None = None,
           on_batch: Callable[[int], None] | None = None, actor: str = "cli") -> dict:
    """Start (or resume) a rotation and run it to the end."""
    job_id, kid, resumed = start(kehu, kind, actor=actor)
    if job_id is None:
        return {"kind": kind, "new_key": kid, "resumed": False, "rows": 0}
    if not resumed and grace > 0:
        time.sleep(grace)  # running servers re-read the key file before any row moves to the new key
    rows = run(kehu, job_id, batch=batch, progress=progress, on_batch=on_batch)
    return {"kind": kind, "new_key": kid, "resumed": resumed, "rows": rows}


# retirement --------------------------------------------------------------------------------------
class KeyInUse(OpsFailed):
    """A key still referenced by rows (or backups) cannot be retired."""

    status = 409
    code = "key_in_use"
    message = "密钥仍被引用，不能退役"


def references(kehu: Kehu, key_id: str, *, backup_dir: Path | None = None) -> int:
    """How many rows (or backup files, for a backup key) still need this key."""
    kind = kehu.crypto.ring.kind_of(key_id)
    if kind == "master":
        return master_counts(kehu).get(key_id, 0)
    if kind == "blind":
        return blind_counts(kehu).get(key_id, 0)
    if kind == "backup":
        from kehu.ops.backup import DATA, KEYS, backups
        from kehu.ops.container import read_header

        n = 0
        for p in (backups(backup_dir, DATA) + backups(backup_dir, KEYS)) if backup_dir and backup_dir.exists() else []:
            with open(p, "rb") as fh:
                n += read_header(fh).get("key_id") == key_id
        return n
    raise OpsFailed(f"密钥 {key_id} 不在密钥环中")


def _newest_escrow_free_of(kehu: Kehu, key_id: str, backup_dir: Path | None) -> None:
    """Restores take the newest key escrow: it must not need the master key being retired."""
    from kehu.ops.backup import KEYS, backups, read_keys

    escrows = backups(backup_dir, KEYS) if backup_dir and backup_dir.exists() else []
    if escrows and key_id in read_keys(escrows[-1], kehu.crypto.ring)[1].get("master_keys", []):
        raise KeyInUse(f"最新的密钥托管文件 {escrows[-1].name} 仍以 {key_id} 包装数据密钥：请先运行 kehu backup 再退役")


def retire(kehu: Kehu, key_id: str, *, backup_dir: Path | None = None, actor: str = "cli") -> None:
    """Remove a key from the key file — refused while anything references it or its rotation is unfinished."""
    path = key_path(kehu)
    with locked(path) as ring:
        kehu.crypto.ring = ring
        kind = ring.kind_of(key_id)
        if kind is None:
            raise OpsFailed(f"密钥 {key_id} 不在密钥环中")
        if ring.active_of(kind) == key_id:
            raise KeyInUse(f"密钥 {key_id} 是当前活动密钥，不能退役")
        if kind != "backup" and _running(kehu, kind) is not None:
            raise KeyInUse("该类密钥的轮换尚未完成：请先运行 kehu keys rotate 继续完成")
        n = references(kehu, key_id, backup_dir=backup_dir)
        if n:
            what = "个备份文件" if kind == "backup" else "条记录"
            raise KeyInUse(f"密钥 {key_id} 仍被 {n} {what}引用，不能退役")
        if kind == "master":
            _newest_escrow_free_of(kehu, key_id, backup_dir)
        _save(kehu, path, ring.without(key_id))
    with kehu.db.transaction() as s:
        kehu.audit.stage(s, action="ops.keys.retire", actor_name=actor, detail={"key": key_id, "kind": kind})
