"""Appending to and verifying the HMAC chain of the audit log.

Entries are staged on a session (`stage`) and chained in the session's `before_commit` hook,
under a process lock and (on PostgreSQL) a row lock on the chain head held until commit.
So an operation and its audit entries commit atomically, the chain has no gaps or forks,
and the entry is on disk before the response is sent.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from kehu.audit.models import AuditEntry, AuditHead
from kehu.db import prepared_for, sqlite_begin_immediate_nowait, utcnow
from kehu.kit.threads import batch_scheduling

GENESIS = "0" * 64
_STAGED = "kehu_audit_staged"
_LOCKED = "kehu_audit_locked"
_HEAD = select(AuditHead.__table__.c.seq, AuditHead.__table__.c.mac).where(AuditHead.__table__.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_SET_HEAD = update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1).values(
    seq=bindparam("s"), mac=bindparam("m"), seal=bindparam("x"))
CHAINED = ("seq", "ts", "actor_id", "actor_name", "action", "outcome", "target_type", "target_id",
           "customer_no", "fields", "reason", "detail", "ip")
# the head moved only if it is still the one the entries were chained onto (SQLite fast path)
_SET_HEAD_IF = update(AuditHead.__table__).where(
    AuditHead.__table__.c.id == 1, AuditHead.__table__.c.seq == bindparam("os"),
    AuditHead.__table__.c.mac == bindparam("om")).values(seq=bindparam("s"), mac=bindparam("m"), seal=bindparam("x"))
_ENTRY_COLUMNS = tuple(c.key for c in AuditEntry.__table__.columns)
# an entry row is (seq, ts, <the staged entry's values>, prev_mac, mac)
_ENTRY_MIDDLE = _ENTRY_COLUMNS[2:-2]
_CHAINED_AFTER_TS = CHAINED[2:]
assert _ENTRY_COLUMNS[:2] == CHAINED[:2] == ("seq", "ts") and _ENTRY_COLUMNS[-2:] == ("prev_mac", "mac")
_INSERT_CHUNKS = (64, 32, 16, 8, 4, 2, 1)  # rows per multi-row INSERT (a few statement shapes, cached)
# json.dumps with options builds a new encoder per call; these run for every entry (same output)
_canonical_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_detail_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def canonical(entry: AuditEntry | dict) -> bytes:
    """The bytes an entry's MAC covers (an entry row or the dict about to be inserted)."""
    get = entry.get if isinstance(entry, dict) else entry.__getattribute__
    values = []
    for name in CHAINED:
        v = get(name)
        values.append(v.isoformat() if isinstance(v, datetime) else v)
    return _canonical_json(values).encode()


class AuditChain:
    """Stages entries on sessions and links them into the chain at commit."""

    def __init__(self, key: bytes, *, clock=utcnow):
        self._key = key
        self._lock = threading.Lock()
        #: (seq, mac) of the head this process last wrote on SQLite: tried first, checked in the transaction
        self._head_hint: tuple[int, str] | None = None
        #: time source of entry timestamps (tests move it instead of sleeping)
        self.clock = clock
        #: callables run after every commit that appended entries (must return at once: e.g. set an Event)
        self.listeners: list = []

    def notify(self) -> None:
        """Tell the listeners that entries were committed."""
        for listener in list(self.listeners):
            listener()

    def mac(self, prev: str, entry: AuditEntry | dict) -> str:
        """HMAC-SHA256 of the previous MAC and this entry."""
        return hmac.new(self._key, prev.encode() + b"|" + canonical(entry), hashlib.sha256).hexdigest()

    def seal(self, seq: int, mac: str) -> str:
        """MAC over the head so the log cannot be silently truncated."""
        return hmac.new(self._key, f"head|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def take_staged(session: Session) -> list[dict]:
        """Remove and return the entries staged on a session (for group commit of reads)."""
        return session.info.pop(_STAGED, None) or []

    def stage(self, session: Session, *, action: str, outcome: str = "ok", actor_id: str | None = None,
              actor_name: str | None = None, target_type: str | None = None, target_id: str | None = None,
              customer_no: str | None = None, fields: list[str] | None = None, reason: str | None = None,
              detail: dict | None = None, ip: str | None = None) -> None:
        """Queue an entry to be chained when this session commits."""
        session.info.setdefault(_STAGED, []).append(self.entry(
            action=action, outcome=outcome, actor_id=actor_id, actor_name=actor_name, target_type=target_type,
            target_id=target_id, customer_no=customer_no, fields=fields, reason=reason, detail=detail, ip=ip))

    @staticmethod
    def entry(*, action: str, outcome: str = "ok", actor_id: str | None = None, actor_name: str | None = None,
              target_type: str | None = None, target_id: str | None = None, customer_no: str | None = None,
              fields: list[str] | None = None, reason: str | None = None, detail: dict | None = None,
              ip: str | None = None) -> dict:
        """An entry not yet chained (what `stage` queues and the group committer takes)."""
        return dict(
            action=action, outcome=outcome, actor_id=actor_id, actor_name=actor_name, target_type=target_type,
            target_id=target_id, customer_no=customer_no, fields=",".join(fields) if fields else None,
            reason=reason, detail=_detail_json(detail) if detail else None,
            ip=ip)

    def install(self, factory: sessionmaker) -> None:
        """Hook the chain into every session of this factory."""
        event.listen(factory, "before_commit", self._before_commit)
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_rollback", self._release)
        event.listen(factory, "after_soft_rollback", lambda s, _t: self._release(s))

    def _before_commit(self, session: Session) -> None:
        staged = session.info.pop(_STAGED, None)
        if not staged:
            return
        self._lock.acquire()
        session.info[_LOCKED] = True
        try:
            self.append(session.connection(), staged)
        except BaseException:
            self._release(session)
            raise

    def append(self, conn, staged: list[dict]) -> None:
        """Chain staged entries onto the head inside the caller's transaction (SQLAlchemy connection)."""
        self.append_raw(conn.connection.driver_connection, conn.dialect, staged)

    def append_raw(self, raw, dialect, staged: list[dict]) -> None:
        """Chain staged entries onto the head inside the transaction of a DB-API connection.

        The caller holds `self._lock` (or is the only writer) and commits; on PostgreSQL the head row
        is also locked FOR UPDATE so writers in other processes queue behind this one. The statements are
        compiled once per dialect and run on the DB-API cursor: the group committer runs this for every
        batch of read entries.
        """
        sqlite = dialect.name == "sqlite"
        if sqlite:
            self._append_sqlite(raw, dialect, staged)
            return
        head = prepared_for(dialect, "audit_head", lambda: _HEAD if sqlite else _HEAD_FOR_UPDATE).rows(raw)
        if not head:
            prepared_for(dialect, "audit_head_insert", lambda: insert(AuditHead.__table__)).execute(
                raw, id=1, seq=0, mac=GENESIS, seal="")
            seq, prev = 0, GENESIS
        else:
            seq, prev = head[0].seq, head[0].mac
        now = self.clock()
        rows = []
        for item in staged:
            seq += 1
            row = dict(item, seq=seq, ts=now, prev_mac=prev)
            row["mac"] = prev = self.mac(prev, row)
            rows.append(row)
        prepared_for(dialect, "audit_insert", lambda: insert(AuditEntry.__table__)).executemany(raw, rows)
        prepared_for(dialect, "audit_set_head", lambda: _SET_HEAD).execute(raw, s=seq, m=prev,
                                                                           x=self.seal(seq, prev))

    def _append_sqlite(self, raw, dialect, staged: list[dict]) -> None:
        """`append_raw` on SQLite, in as few statements as it takes (the group committer's thread runs this
        for every batch, and needs the GIL back after each statement, from an event loop that is busy).

        The head this process last wrote is tried first: the entries are chained onto it and the head row
        is moved only if it still holds that seq and MAC (`UPDATE … WHERE seq = ? AND mac = ?`, inside the
        caller's write transaction, so nobody can move it in between); otherwise (another process appended,
        or that transaction rolled back) the head is read and the entries are chained again. The entries go
        in with multi-row INSERTs. Same rows, MACs and seal as the general path.
        """
        now = self.clock()
        hint = self._head_hint
        if hint is not None:
            rows, seq, prev = self._linked(dialect, hint, now, staged)
            moved = prepared_for(dialect, "audit_set_head_if", lambda: _SET_HEAD_IF).execute(
                raw, s=seq, m=prev, x=self.seal(seq, prev), os=hint[0], om=hint[1])
        if hint is None or moved != 1:
            head = prepared_for(dialect, "audit_head", lambda: _HEAD).rows(raw)
            if not head:
                prepared_for(dialect, "audit_head_insert", lambda: insert(AuditHead.__table__)).execute(
                    raw, id=1, seq=0, mac=GENESIS, seal="")
                start = (0, GENESIS)
            else:
                start = (head[0].seq, head[0].mac)
            rows, seq, prev = self._linked(dialect, start, now, staged)
            prepared_for(dialect, "audit_set_head", lambda: _SET_HEAD).execute(raw, s=seq, m=prev,
                                                                               x=self.seal(seq, prev))
        _insert_entries(raw, dialect, rows)
        self._head_hint = (seq, prev)

    def _linked(self, dialect, head: tuple[int, str], now: datetime, staged: list[dict]) -> tuple[list, int, str]:
        """The INSERT parameters of `staged` chained onto `head` at time `now` (in `_ENTRY_COLUMNS` order), and
        the new head. The MACs are those of `mac` (the same canonical bytes, the time formatted once)."""
        seq, prev = head
        ts_iso = now.isoformat()
        ts_bound = _ts_bind(dialect)(now)
        key, sha256, dumps = self._key, hashlib.sha256, _canonical_json
        rows = []
        for item in staged:
            seq += 1
            values = [seq, ts_iso]
            for name in _CHAINED_AFTER_TS:
                v = item.get(name)
                values.append(v.isoformat() if isinstance(v, datetime) else v)
            mac = hmac.new(key, prev.encode() + b"|" + dumps(values).encode(),
                           sha256).hexdigest()
            rows.append((seq, ts_bound, *[item[name] for name in _ENTRY_MIDDLE], prev, mac))
            prev = mac
        return rows, seq, prev

    def _after_commit(self, session: Session) -> None:
        appended = session.info.get(_LOCKED, False)
        self._release(session)
        if appended:
            self.notify()

    def _release(self, session: Session) -> None:
        if session.info.pop(_LOCKED, False):
            self._lock.release()


def _ts_bind(dialect):
    """The bind processor of the entry time column (SQLite stores SQLAlchemy's text form of the UTC time)."""
    single = prepared_for(dialect, "audit_insert", lambda: insert(AuditEntry.__table__))
    return single.binds.get("ts") or (lambda v: v)


def _insert_entries(raw, dialect, rows: list[tuple]) -> None:
    """INSERT entry rows (bound values in `_ENTRY_COLUMNS` order) with multi-row statements of a few sizes."""
    i = 0
    while i < len(rows):
        n = next(k for k in _INSERT_CHUNKS if k <= len(rows) - i)
        stmt = prepared_for(dialect, ("audit_insert_rows", n), lambda: _multi_insert(n))
        raw.execute(stmt.sql, [v for row in rows[i:i + n] for v in row])
        i += n


def _multi_insert(n: int):
    stmt = insert(AuditEntry.__table__).values(
        [{c: bindparam(f"{c}_{j}") for c in _ENTRY_COLUMNS} for j in range(n)])
    return _checked_order(stmt, [f"{c}_{j}" for j in range(n) for c in _ENTRY_COLUMNS])


class _checked_order:
    """Compiles like the statement it wraps, checking that the positional parameters come row by row."""

    def __init__(self, stmt, expected: list[str]):
        self.stmt, self.expected = stmt, expected

    def compile(self, dialect):
        compiled = self.stmt.compile(dialect=dialect)
        if compiled.positiontup != self.expected:
            raise RuntimeError("multi-row INSERT compiled with an unexpected parameter order")
        return compiled


@dataclass
class VerifyResult:
    """Outcome of a chain verification."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict:
        """JSON form."""
        return {"ok": self.ok, "checked": self.checked, "first_bad_seq": self.first_bad_seq, "problem": self.problem}


def verify(session: Session, chain: AuditChain, *, batch: int = 5000) -> VerifyResult:
    """Walk the whole log; report the first edited, deleted, reordered or truncated entry."""
    head = session.get(AuditHead, 1)
    prev, expected, checked, last = GENESIS, 1, 0, 0
    while True:
        rows = session.execute(select(AuditEntry).where(AuditEntry.seq >= expected)
                               .order_by(AuditEntry.seq).limit(batch)).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected:
                return VerifyResult(False, checked, expected, f"第 {expected} 条记录缺失（已删除）")
            if row.prev_mac != prev:
                return VerifyResult(False, checked, row.seq, f"第 {row.seq} 条记录的链接不连续（删除或重排）")
            if not hmac.compare_digest(chain.mac(prev, row), row.mac):
                return VerifyResult(False, checked, row.seq, f"第 {row.seq} 条记录内容被篡改")
            prev, last, expected, checked = row.mac, row.seq, expected + 1, checked + 1
        session.expunge_all()
    if head is None:
        if checked:
            return VerifyResult(False, checked, 1, "链头缺失")
        return VerifyResult(True, 0)
    if not hmac.compare_digest(chain.seal(head.seq, head.mac), head.seal or ""):
        return VerifyResult(False, checked, head.seq or 1, "链头签名无效（日志被截断或伪造）")
    if head.seq != last or head.mac != prev:
        return VerifyResult(False, checked, last + 1, f"日志在第 {last} 条之后被截断（链头记录到第 {head.seq} 条）")
    return VerifyResult(True, checked)


class _Batch:
    """Entries handed over to the writer thread since it last took its work, and how their submitters are told."""

    __slots__ = ("entries", "done", "error", "futures", "timers")

    def __init__(self):
        self.entries: list[dict] = []
        self.done: threading.Event | None = None  # waiting threads (`submit`): one wake-up call per batch
        self.error: BaseException | None = None
        self.futures: list = []  # (loop, future) of the awaiting coroutines (`committed`)
        self.timers: list = []  # (loop, timer handle) failing those futures if the writer takes too long


def _settle(futures: list, error: BaseException | None, timers: tuple = ()) -> None:
    """On the event loop: resolve the futures of one batch (one call per loop and batch), cancel its timers."""
    for timer in timers:
        timer.cancel()
    for fut in futures:
        if not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)


class GroupCommitter:
    """Durable appends of audit entries for read-only requests, many requests per commit.

    A read request hands its entries over and waits until they are committed in one transaction
    (one fsync) with those of every other request waiting at that moment, so reads stay
    durable-before-response without one disk flush each.

    - A thread waits with `submit`; a writer thread commits what was handed over and releases the
      batch's waiters with one Event.
    - A coroutine awaits `committed`. The entries of all requests of one round of the event loop are
      handed over together at the end of that round; the writer thread commits them and resolves the
      round's futures with one `call_soon_threadsafe`. Its commit waits for the disk (fsync) with the GIL
      released, so the loop serves the next requests meanwhile, and the rounds handed over during one
      commit make the next batch.
    - `commit_on_loop=True` (SQLite only, `Database.reads_on_loop`): the round is committed on the loop
      itself when the write lock is free at once (`BEGIN IMMEDIATE` without waiting), else handed over as
      above — no thread hand-off, but the loop stands still during the fsync (measured slower under a
      concurrent load: benchmarks/RESULTS.md, session 5). A commit on the loop leaves the WAL checkpoint to
      the writer thread.
    """

    def __init__(self, db, chain: AuditChain, *, max_batch: int = 2000, idle_close: float = 1.0,
                 checkpoint_every: int = 100, timeout: float = 30.0, commit_on_loop: bool = False):
        self.db = db
        self.chain = chain
        self.timeout = timeout  # seconds a waiter waits for the writer thread before failing
        self.max_batch = max_batch
        self.idle_close = idle_close  # seconds without work after which the writer thread ends
        self.checkpoint_every = checkpoint_every  # loop commits between two WAL checkpoints (writer thread)
        self.on_loop = commit_on_loop and db.reads_on_loop
        self._cond = threading.Condition(threading.Lock())
        self._open = _Batch()
        self._writer_waiting = False
        self._checkpoint_due = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._rounds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop → [(entries, future)]
        self._loop_commits = 0
        self.commits = self.committed_entries = 0  # since start (a batch's size is their ratio)

    # waiting threads ----------------------------------------------------------
    def submit(self, entries: list[dict]) -> None:
        """Append entries durably; returns once committed, raises if the commit failed."""
        batch = self._hand_over(entries, ())
        if not batch.done.wait(self.timeout):
            raise TimeoutError("audit commit timed out")
        if batch.error is not None:
            raise batch.error

    # awaiting coroutines ------------------------------------------------------
    async def committed(self, entries: list[dict]) -> None:
        """Append entries durably, awaited: returns once committed, raises if the commit failed.

        The future is always resolved: at the end of the round (committed or failed), or by the writer
        thread after its commit or failure; a round handed to the writer fails after `timeout` seconds.
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        pending = self._rounds.get(loop)
        if pending is None:
            pending = self._rounds[loop] = []
        if not pending:  # the first of this round: commit after the round's other requests handed theirs over
            loop.call_soon(self._end_round, loop)
        pending.append((entries, fut))
        await fut

    def _end_round(self, loop) -> None:
        items = self._rounds.get(loop) or []
        self._rounds[loop] = []
        if not items:
            return
        entries = [e for chunk, _fut in items for e in chunk]
        futures = [fut for _chunk, fut in items]
        if self.on_loop and len(entries) <= self.max_batch:
            try:
                done = self._commit_now(entries)
            except BaseException as exc:  # the commit failed: every waiter of the round gets the error
                _settle(futures, exc)
                return
            if done:
                _settle(futures, None)
                self.chain.notify()
                return
        timer = loop.call_later(self.timeout, _settle, futures, TimeoutError("audit commit timed out"))
        self._hand_over(entries, [(loop, fut) for fut in futures], timer=(loop, timer))

    def _commit_now(self, entries: list[dict]) -> bool:
        """Commit on this thread if the write lock and the chain lock are free at once; False otherwise."""
        pooled = self.db.engine.raw_connection()
        raw = pooled.driver_connection
        try:
            if not sqlite_begin_immediate_nowait(raw):
                return False
            if not self.chain._lock.acquire(blocking=False):
                raw.execute("ROLLBACK")
                return False
            auto = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            raw.execute("PRAGMA wal_autocheckpoint=0")  # this commit never checkpoints on the loop
            try:
                self._append_commit(raw, entries)
            finally:
                self.chain._lock.release()
                raw.execute(f"PRAGMA wal_autocheckpoint={int(auto)}")
        finally:
            pooled.close()
        self.commits += 1
        self.committed_entries += len(entries)
        self._loop_commits += 1
        if self._loop_commits % self.checkpoint_every == 0:
            self._want_checkpoint()
        return True

    # the writer thread --------------------------------------------------------
    def _hand_over(self, entries: list[dict], futures, timer=None) -> _Batch:
        with self._cond:
            batch = self._open
            batch.entries.extend(entries)
            if futures:
                batch.futures.extend(futures)
                batch.timers.append(timer)
            elif batch.done is None:
                batch.done = threading.Event()
            self._notify()
        self._ensure_writer()
        return batch

    def _want_checkpoint(self) -> None:
        with self._cond:
            self._checkpoint_due = True
            self._notify()
        self._ensure_writer()

    def _notify(self) -> None:
        # the caller holds self._cond
        if self._writer_waiting and (self._open.entries or self._checkpoint_due):
            self._writer_waiting = False
            self._cond.notify()

    def _ensure_writer(self) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="kehu-audit-writer", daemon=True)
                    self._thread.start()

    def _take(self) -> tuple[_Batch | None, bool] | None:
        """(batch or None, checkpoint due), waiting for work; None after `idle_close` seconds without (the writer ends)."""
        with self._cond:
            while not self._open.entries and not self._checkpoint_due:
                self._writer_waiting = True
                if not self._cond.wait(self.idle_close) and not self._open.entries and not self._checkpoint_due:
                    self._writer_waiting = False
                    self._thread = None  # under the lock: a hand-over from now on starts a new writer
                    return None
            self._writer_waiting = False
            checkpoint, self._checkpoint_due = self._checkpoint_due, False
            batch = None
            if self._open.entries:
                batch, self._open = self._open, _Batch()
            return batch, checkpoint

    def _run(self) -> None:
        # a pooled connection per piece of work, given back at once: a connection kept between batches would
        # outlive `engine.dispose()` (PostgreSQL then refuses to copy the database as a template, and a
        # restore could not replace it)
        batch_scheduling()  # woken by the busy event loop, it must not preempt it (it needs the loop's GIL first)
        sqlite = self.db.dialect == "sqlite"
        while (work := self._take()) is not None:
            batch, checkpoint = work
            error = None
            try:
                if sqlite:
                    self._work_raw(batch, checkpoint)
                else:
                    with self.db.engine.connect() as conn:
                        if batch is not None:
                            for i in range(0, len(batch.entries), self.max_batch):
                                self._commit(conn, batch.entries[i:i + self.max_batch])
                                self.commits += 1
                            self.committed_entries += len(batch.entries)
            except BaseException as exc:  # handed to every waiter
                error = exc
            if batch is not None:
                self._release(batch, error)

    def _work_raw(self, batch: _Batch | None, checkpoint: bool) -> None:
        """SQLite: commit a batch on a pooled DB-API connection (BEGIN IMMEDIATE … COMMIT, as `_commit_now`).

        The same statements and locks as `_commit` without SQLAlchemy's connection and transaction objects
        (they cost this thread ~70 µs of the GIL per commit, taken from the event loop).
        """
        pooled = self.db.engine.raw_connection()
        raw = pooled.driver_connection
        try:
            if batch is not None:
                for i in range(0, len(batch.entries), self.max_batch):
                    self._commit_raw(raw, batch.entries[i:i + self.max_batch])
                    self.commits += 1
                self.committed_entries += len(batch.entries)
            if checkpoint:  # after the loop's commits: copy the WAL back into the store, off the loop
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            pooled.close()

    def _commit_raw(self, raw, entries: list[dict]) -> None:
        # the order of every write transaction: the write lock (BEGIN IMMEDIATE, waiting for it), then the chain lock
        raw.execute("BEGIN IMMEDIATE")
        try:
            with self.chain._lock:
                self._append_commit(raw, entries)
        except BaseException:
            if raw.in_transaction:  # the chain lock was not taken
                raw.execute("ROLLBACK")
            raise

    def _append_commit(self, raw, entries: list[dict]) -> None:
        """SQLite, in the caller's write transaction with the chain lock held: append and COMMIT, or ROLLBACK."""
        try:
            self.chain.append_raw(raw, self.db.engine.dialect, entries)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise

    def _release(self, batch: _Batch, error: BaseException | None) -> None:
        batch.error = error
        if batch.done is not None:
            batch.done.set()
        loops: dict = {}
        for loop, fut in batch.futures:
            loops.setdefault(loop, ([], []))[0].append(fut)
        for loop, timer in batch.timers:
            loops[loop][1].append(timer)
        for loop, (futures, timers) in loops.items():
            try:
                loop.call_soon_threadsafe(_settle, futures, error, timers)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass
        if error is None:
            self.chain.notify()

    def _commit(self, conn, entries: list[dict]) -> None:
        # the write lock first (SQLite: BEGIN IMMEDIATE), then the chain's process lock — the order of every
        # write transaction (it takes the chain lock in before_commit), so the two never wait on each other
        with conn.begin() as tx:
            with self.chain._lock:
                self.chain.append(conn, entries)
                tx.commit()
