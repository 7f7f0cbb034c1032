"""Appending to and verifying the HMAC chain of the audit log.

Entries are staged on a session (`stage`) and chained in the session's `before_commit` hook,
under a process lock and (on PostgreSQL) a row lock on the chain head held until commit.
So an operation and its audit entries commit atomically, the chain has no gaps or forks,
and the entry is on disk before the response is sent.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from kehu.audit.models import AuditEntry, AuditHead
from kehu.db import utcnow

GENESIS = "0" * 64
_STAGED = "kehu_audit_staged"
_LOCKED = "kehu_audit_locked"
_HEAD = select(AuditHead.__table__).where(AuditHead.__table__.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_SET_HEAD = update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1).values(
    seq=bindparam("s"), mac=bindparam("m"), seal=bindparam("x"))
CHAINED = ("seq", "ts", "actor_id", "actor_name", "action", "outcome", "target_type", "target_id",
           "customer_no", "fields", "reason", "detail", "ip")


def canonical(entry: AuditEntry | dict) -> bytes:
    """The bytes an entry's MAC covers (an entry row or the dict about to be inserted)."""
    get = entry.get if isinstance(entry, dict) else entry.__getattribute__
    values = []
    for name in CHAINED:
        v = get(name)
        values.append(v.isoformat() if isinstance(v, datetime) else v)
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


class AuditChain:
    """Stages entries on sessions and links them into the chain at commit."""

    def __init__(self, key: bytes, *, clock=utcnow):
        self._key = key
        self._lock = threading.Lock()
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
        session.info.setdefault(_STAGED, []).append(dict(
            action=action, outcome=outcome, actor_id=actor_id, actor_name=actor_name, target_type=target_type,
            target_id=target_id, customer_no=customer_no, fields=",".join(fields) if fields else None,
            reason=reason, detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
            ip=ip))

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
        """Chain staged entries onto the head inside the caller's transaction (Core statements only).

        The caller holds `self._lock` (or is the only writer) and commits; on PostgreSQL the head row
        is also locked FOR UPDATE so writers in other processes queue behind this one.
        """
        head = conn.execute(_HEAD_FOR_UPDATE if conn.dialect.name != "sqlite" else _HEAD).first()
        if head is None:
            conn.execute(insert(AuditHead.__table__).values(id=1, seq=0, mac=GENESIS, seal=""))
            seq, prev = 0, GENESIS
        else:
            seq, prev = head.seq, head.mac
        now = self.clock()
        rows = []
        for item in staged:
            seq += 1
            row = dict(item, seq=seq, ts=now, prev_mac=prev)
            row["mac"] = prev = self.mac(prev, row)
            rows.append(row)
        conn.execute(insert(AuditEntry.__table__), rows)  # one executemany, no ORM objects
        conn.execute(_SET_HEAD, {"s": seq, "m": prev, "x": self.seal(seq, prev)})

    def _after_commit(self, session: Session) -> None:
        appended = session.info.get(_LOCKED, False)
        self._release(session)
        if appended:
            self.notify()

    def _release(self, session: Session) -> None:
        if session.info.pop(_LOCKED, False):
            self._lock.release()


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


class GroupCommitter:
    """Durable appends of audit entries for read-only requests, many requests per commit.

    A read request hands its entries over and waits until they are committed; one writer
    thread commits everything queued at that moment in one transaction (one fsync), so reads
    stay durable-before-response without one disk flush each.
    """

    def __init__(self, db, chain: AuditChain, *, max_batch: int = 2000):
        self.db = db
        self.chain = chain
        self.max_batch = max_batch
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, entries: list[dict], *, timeout: float = 30.0) -> None:
        """Append entries durably; returns once committed, raises if the commit failed."""
        done = threading.Event()
        slot: dict = {"entries": entries, "done": done, "error": None}
        self._ensure_thread()
        self._queue.put(slot)
        if not done.wait(timeout):
            raise TimeoutError("audit commit timed out")
        if slot["error"] is not None:
            raise slot["error"]

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="kehu-audit-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            count = len(batch[0]["entries"])
            while count < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                count += len(item["entries"])
            error = None
            try:
                entries = [e for item in batch for e in item["entries"]]
                with self.chain._lock, self.db.engine.connect() as conn:
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                    with conn.begin():
                        self.chain.append(conn, entries)
            except BaseException as exc:  # handed to every waiter
                error = exc
            for item in batch:
                item["error"] = error
                item["done"].set()
            if error is None:
                self.chain.notify()
