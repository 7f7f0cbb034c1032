"""Incremental evaluation of the alarm rules over the audit stream, and the in-process worker that runs it.

A scan reads the entries after the stored checkpoint (`alarm_state.last_seq`) up to the chain head,
counts per subject and window in SQL, and upserts one alert per (rule, subject, window): scanning the
same entries again never raises a second alert. Scanners serialise on the checkpoint row.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Integer, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from kehu.access import service as access
from kehu.access.models import User
from kehu.audit.models import AuditEntry
from kehu.kit.threads import batch_scheduling
from kehu.kit.ids import new_id
from kehu.supervision import rules as R
from kehu.supervision.models import AlarmState, Alert

log = logging.getLogger("kehu.supervision")
BATCH = 20000
LOG = AuditEntry.__table__


@dataclass
class Hit:
    """A rule exceeded by one subject in one window (or one triggering entry)."""

    rule: str
    subject: str
    user_id: str | None
    user_name: str | None
    bucket: int
    count: int
    first_seq: int
    last_seq: int
    window_start: datetime
    window_end: datetime


@dataclass
class ScanResult:
    """What one scan did."""

    scanned: int = 0
    raised: int = 0
    updated: int = 0
    locked: int = 0
    last_seq: int = 0

    def as_dict(self) -> dict:
        """JSON form."""
        return dict(self.__dict__)


def scan(kehu, *, start: int | None = None, lock: bool = True, batch: int = BATCH) -> ScanResult:
    """Evaluate every enabled rule over the entries after the checkpoint (or after `start`).

    Per batch, the rules are counted in a read transaction, which holds no lock: the counts of a busy
    window take a while, and audit commits (every request's) must not wait for them. Only recording the
    hits and moving the checkpoint takes a (short) write transaction; if another scanner moved the
    checkpoint in between, the batch is counted again from there. `lock=False` never locks accounts
    (used when re-scanning old history).
    """
    result = ScanResult()
    while True:
        with kehu.db.reader() as s:
            ck, hi, head, hits = _counted(s, kehu, start=start, batch=batch)
        if hits is None:
            result.last_seq = max(ck, result.last_seq)
            return result
        with kehu.db.transaction() as s:
            recorded = _record(s, kehu, ck, hi, hits, check=start is None, lock=lock, result=result)
        if not recorded:
            continue
        start = None if start is None else result.last_seq
        if hi >= head:
            return result


def _counted(session: Session, kehu, *, start: int | None, batch: int) -> tuple[int, int, int, list[Hit] | None]:
    """(checkpoint, batch end, chain head, hits) of the next batch, read only; hits None when nothing is new."""
    state = session.get(AlarmState, 1)
    ck = (state.last_seq if state else 0) if start is None else start
    head = session.execute(select(func.max(LOG.c.seq))).scalar() or 0
    if head <= ck:
        return ck, ck, head, None
    hi = min(head, ck + batch)
    return ck, hi, head, evaluate(session, kehu, ck, hi)


def _record(session: Session, kehu, ck: int, hi: int, hits: list[Hit], *, check: bool, lock: bool,
            result: ScanResult) -> bool:
    """Upsert the hits of entries ck+1 … hi and move the checkpoint; False (nothing written) if `check` and
    the checkpoint is no longer `ck` (another scanner recorded a batch since it was read)."""
    state = session.get(AlarmState, 1, with_for_update=True)
    if state is None:
        state = AlarmState(id=1, last_seq=0)
        session.add(state)
    if check and state.last_seq != ck:
        return False
    for hit in hits:
        _upsert(session, kehu, hit, lock=lock, result=result)
    result.scanned += hi - ck
    state.last_seq, state.scanned_at = max(state.last_seq, hi), datetime.now(timezone.utc)
    result.last_seq = hi
    return True


def scan_batch(session: Session, kehu, *, start: int | None = None, lock: bool = True, batch: int = BATCH,
               result: ScanResult) -> bool:
    """One batch inside the caller's transaction (counted under its lock); True when the chain head was reached."""
    session.get(AlarmState, 1, with_for_update=True)  # the lock first: `_counted` reads the same row
    ck, hi, head, hits = _counted(session, kehu, start=start, batch=batch)
    if hits is None:
        result.last_seq = max(ck, result.last_seq)
        return True
    _record(session, kehu, ck, hi, hits, check=False, lock=lock, result=result)
    return hi >= head


def evaluate(session: Session, kehu, ck: int, hi: int) -> list[Hit]:
    """Hits of every enabled rule in the windows touched by entries ck+1 … hi."""
    dialect = session.bind.dialect.name if session.bind else kehu.db.dialect
    first_ts = session.execute(select(func.min(LOG.c.ts)).where(LOG.c.seq > ck, LOG.c.seq <= hi)).scalar()
    if first_ts is None:
        return []
    catalog = kehu.catalog(session)
    hits: list[Hit] = []
    for rule in R.effective(session).values():
        if not rule.enabled:
            continue
        if rule.code in R.ONE_OFF:
            hits += _dormant(session, rule, ck, hi, dialect)
        else:
            hits += _windowed(session, rule, catalog, ck, hi, first_ts, dialect)
    return hits


def window_of(bucket: int, minutes: int) -> tuple[datetime, datetime]:
    """Start and end (UTC) of a numbered window."""
    start = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=bucket * minutes, hours=-R.TZ_HOURS)
    return start, start + timedelta(minutes=minutes)


def _source(rule: R.Rule, catalog, dialect: str, lo: int, hi: int, *extra):
    """The entries (seq in lo+1 … hi) a windowed rule counts: seq, ts, actor_id, actor_name, subject, item.

    A rule counts distinct items: customers for `records_viewed`, exports for `export_burst`, entries otherwise.
    """
    c = LOG.c
    if rule.code == "records_viewed":
        direct = select(c.seq, c.ts, c.actor_id, c.actor_name, c.actor_id.label("subject"), c.customer_no) \
            .where(R.condition(rule, catalog, dialect), c.seq > lo, c.seq <= hi, *extra)
        return union_all(direct, R.listed_records(dialect, lo, hi).where(*extra))
    return select(c.seq, c.ts, c.actor_id, c.actor_name, R.subject().label("subject"), R.item(rule).label("item")) \
        .where(R.condition(rule, catalog, dialect), c.seq > lo, c.seq <= hi, *extra)


def _windowed(session: Session, rule: R.Rule, catalog, ck: int, hi: int, first_ts: datetime,
              dialect: str) -> list[Hit]:
    """Counts per subject and window, only for subjects with new entries (read through the actor index)."""
    new = _source(rule, catalog, dialect, ck, hi).subquery("new")
    subjects = session.execute(select(new.c.subject).distinct()).scalars().all()
    if not subjects:
        return []
    minutes = rule.window_minutes
    since = window_of(int((first_ts.timestamp() + R.TZ_HOURS * 3600) // (minutes * 60)), minutes)[0]
    lo = (session.execute(select(func.min(LOG.c.seq)).where(LOG.c.ts >= since)).scalar() or 1) - 1
    users = [x for x in subjects if not x.startswith("ip:")]
    groups = [(LOG.c.actor_id.in_(users[i:i + 500]),) for i in range(0, len(users), 500)]
    addresses = [x for x in subjects if x.startswith("ip:")]
    if addresses:
        groups.append((LOG.c.actor_id.is_(None), R.subject().in_(addresses)))
    hits = []
    for extra in groups:
        src = _source(rule, catalog, dialect, lo, hi, *extra).subquery("src")
        counted = func.count(src.c[5].distinct())
        bucket = R.bucket(src.c.ts, minutes, dialect).label("bucket")
        rows = session.execute(
            select(src.c.subject, func.max(src.c.actor_id), func.max(src.c.actor_name), bucket, counted,
                   func.min(src.c.seq), func.max(src.c.seq))
            .group_by(src.c.subject, bucket)
            .having(counted > rule.limit, func.max(src.c.seq) > ck)).all()
        hits += [Hit(rule.code, subj, uid, name, b, n, lo_seq, hi_seq, *window_of(b, minutes))
                 for subj, uid, name, b, n, lo_seq, hi_seq in rows]
    return hits


def _dormant(session: Session, rule: R.Rule, ck: int, hi: int, dialect: str) -> list[Hit]:
    """Entries by a user whose previous successful activity (or account creation) is `limit` days back.

    The previous entry comes from the batch itself (LAG); only a user's first entry of the batch
    looks further back, through the actor index.
    """
    c, prev_log = LOG.c, LOG.alias("prev")
    batch = select(c.seq, c.ts, c.actor_id, c.actor_name,
                   func.lag(c.ts).over(partition_by=c.actor_id, order_by=c.seq).label("lag")) \
        .where(c.seq > ck, c.seq <= hi, c.outcome == "ok", c.actor_id.is_not(None)).subquery("batch")
    before = select(prev_log.c.ts).where(prev_log.c.actor_id == batch.c.actor_id, prev_log.c.outcome == "ok",
                                         prev_log.c.seq < batch.c.seq) \
        .order_by(prev_log.c.seq.desc()).limit(1).scalar_subquery()
    src = select(batch.c.seq, batch.c.ts, batch.c.actor_id, batch.c.actor_name,
                 func.coalesce(batch.c.lag, before, User.created_at).label("prev")) \
        .join(User, User.id == batch.c.actor_id).subquery("src")
    gap = (R.epoch_seconds(src.c.ts, dialect) - R.epoch_seconds(src.c.prev, dialect)) / 86400.0
    rows = session.execute(select(src.c.seq, src.c.ts, src.c.actor_id, src.c.actor_name, src.c.prev,
                                  cast(gap, Integer)).where(gap > literal(rule.limit))).all()
    return [Hit(rule.code, uid, uid, name, seq, days, seq, seq, prev, ts)
            for seq, ts, uid, name, prev, days in rows]


def _upsert(session: Session, kehu, hit: Hit, *, lock: bool, result: ScanResult) -> None:
    alert = session.execute(select(Alert).where(Alert.rule == hit.rule, Alert.subject == hit.subject,
                                                Alert.bucket == hit.bucket)).scalar_one_or_none()
    if alert is not None:
        if alert.status != "closed" and (hit.count, hit.last_seq) != (alert.count, alert.last_seq):
            alert.count, alert.last_seq = max(alert.count, hit.count), max(alert.last_seq, hit.last_seq)
            alert.first_seq = min(alert.first_seq, hit.first_seq)
            result.updated += 1
        return
    rule = R.effective(session)[hit.rule]
    alert = Alert(id=new_id(), rule=hit.rule, subject=hit.subject, user_id=hit.user_id, user_name=hit.user_name,
                  bucket=hit.bucket, count=hit.count, limit=rule.limit, window_start=hit.window_start,
                  window_end=hit.window_end, first_seq=hit.first_seq, last_seq=hit.last_seq, status="open",
                  locked=False, created_at=datetime.now(timezone.utc))
    session.add(alert)
    session.flush()
    result.raised += 1
    if lock and rule.lock and hit.user_id and access.lock_user(
            session, kehu=kehu, user_id=hit.user_id, reason=f"报警：{R.NAMES[hit.rule]}",
            detail={"alert": alert.id, "rule": hit.rule}):
        alert.locked = True
        result.locked += 1


class Worker:
    """Scans shortly after audit entries were committed, in a background thread (never in the request).

    It gathers the commits of at least `delay` seconds, and of at least `pace` times as long as its last
    scan took (at most `max_pause` seconds): a scan recounts the windows its new entries touch, which takes
    longer the busier the window, so under a sustained load the scanner keeps to about 1/(pace + 1) of a
    core instead of scanning back to back.
    """

    def __init__(self, kehu, *, delay: float = 2.0, pace: float = 10.0, max_pause: float = 60.0):
        self._kehu = weakref.ref(kehu)  # a finished runtime (tests) lets its worker end
        self._pool = kehu.db.engine.pool  # disposing the engine (shut-down) replaces the pool: the worker ends
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._stopped = False
        self.delay, self.pace, self.max_pause = delay, pace, max_pause
        self.last_scan = 0.0  # seconds the last scan took
        self._thread = threading.Thread(target=self._run, name="kehu-alarms", daemon=True)

    def start(self) -> "Worker":
        """Listen to the audit chain and start the thread."""
        kehu = self._kehu()
        kehu.audit.listeners.append(self._wake.set)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread after its current scan."""
        self._stopped = True
        kehu = self._kehu()
        if kehu is not None and self._wake.set in kehu.audit.listeners:
            kehu.audit.listeners.remove(self._wake.set)
        self._halt.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def pause(self) -> float:
        """Seconds to gather commits before the next scan."""
        return min(self.max_pause, max(self.delay, self.pace * self.last_scan))

    def _run(self) -> None:
        batch_scheduling()  # a background thread: it never preempts the request path when it wakes
        while True:
            self._wake.wait()
            self._halt.wait(self.pause())  # gather the commits meanwhile: one scan (one window recount) for all
            self._wake.clear()
            kehu = self._kehu()
            if self._stopped or kehu is None or kehu.db.engine.pool is not self._pool:
                return
            started = time.monotonic()
            try:
                scan(kehu)
            except Exception:  # a failed scan is retried on the next commit; the checkpoint did not move
                log.warning("alarm scan failed", exc_info=True)
            self.last_scan = time.monotonic() - started
            del kehu
