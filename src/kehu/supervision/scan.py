"""Incremental evaluation of the alarm rules over the audit stream, and the in-process worker that runs it.

A scan reads the entries after the stored checkpoint (`alarm_state.last_seq`) up to the chain head,
counts per subject and window, and upserts one alert per (rule, subject, window): scanning the
same entries again never raises a second alert. Scanners serialise on the checkpoint row.

Each process remembers what it counted of the open windows (`_Counted`): a scan reads only the entries
after those already counted, grouped per item in SQL, and adds them in memory, so its cost follows the new
entries, not the window's volume. A window it never counted (after a restart, a settings change, or when
another process's scans left too large a gap) is read from the log once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
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
    memory = _memory(kehu)
    mac = _Macs(session)  # every rule's memory checks and moves to the same seqs: each MAC read once
    hits: list[Hit] = []
    with memory.lock:
        for rule in R.effective(session).values():
            if not rule.enabled:
                memory.rules.pop(rule.code, None)
                continue
            if rule.code in R.ONE_OFF:
                hits += _dormant(session, rule, ck, hi, dialect)
                continue
            counted = memory.counted(session, rule, catalog, dialect, ck, mac)
            try:
                hits += _windowed(session, rule, catalog, ck, hi, first_ts, dialect, counted, mac)
            except BaseException:
                memory.rules.pop(rule.code, None)  # half-merged counts are worth nothing: count afresh next time
                raise
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


def _windowed(session: Session, rule: R.Rule, catalog, ck: int, hi: int, first_ts: datetime, dialect: str,
              counted: "_Counted", mac: "_Macs") -> list[Hit]:
    """Hits in the windows that entries ck+1 … hi touch, counted on from what this process counted before.

    Only the entries after `counted.upto` are read (normally the batch itself; also those another scanner
    took, when it moved the checkpoint meanwhile); a window this process never counted, or forgot, is read
    once from the log (through the actor index) before the new entries are added."""
    minutes = rule.window_minutes
    rows = _items(session, rule, catalog, dialect, counted.upto, hi)
    touched = {(subj, b) for subj, b, *_ in rows}
    unknown = {w for w in touched if w not in counted.windows and counted.unknown(w[1], minutes)}
    if unknown:
        _seed(session, rule, catalog, dialect, counted, unknown)
    for subj, b, item, lo_seq, hi_seq, uid, name in rows:
        counted.add(subj, b, item, lo_seq, hi_seq, uid, name)
    counted.upto, counted.mac = hi, mac(hi)  # everything up to hi is counted
    hits = []
    for subj, b in sorted(touched):
        w = counted.windows[(subj, b)]
        if len(w.items) > rule.limit and w.last > ck:
            hits.append(Hit(rule.code, subj, w.uid, w.name, b, len(w.items), w.first, w.last, *window_of(b, minutes)))
    counted.forget(first_ts - MARGIN, minutes)
    return hits


def _items(session: Session, rule: R.Rule, catalog, dialect: str, lo: int, hi: int, *extra) -> list:
    """(subject, window, item, first seq, last seq, actor id, actor name) per item counted in entries lo+1 … hi."""
    src = _source(rule, catalog, dialect, lo, hi, *extra).subquery("src")
    bucket = R.bucket(src.c.ts, rule.window_minutes, dialect).label("bucket")
    item = src.c[5]
    return session.execute(
        select(src.c.subject, bucket, item, func.min(src.c.seq), func.max(src.c.seq), func.max(src.c.actor_id),
               func.max(src.c.actor_name))
        .group_by(src.c.subject, bucket, item)).all()


def _seed(session: Session, rule: R.Rule, catalog, dialect: str, counted: "_Counted",
          unknown: set[tuple[str, int]]) -> None:
    """Read the windows `unknown` (subject, window) as far as already counted (up to `counted.upto`) from the log."""
    minutes, upto = rule.window_minutes, counted.upto
    for subj, b in unknown:
        counted.windows[(subj, b)] = _Window()
    since = min(window_of(b, minutes)[0] for _s, b in unknown)
    first = session.execute(select(func.min(LOG.c.seq)).where(LOG.c.ts >= since, LOG.c.seq <= upto)).scalar()
    if first is None:
        return
    subjects = sorted({subj for subj, _b in unknown})
    users = [x for x in subjects if not x.startswith("ip:")]
    groups = [(LOG.c.actor_id.in_(users[i:i + 500]),) for i in range(0, len(users), 500)]
    addresses = [x for x in subjects if x.startswith("ip:")]
    if addresses:
        groups.append((LOG.c.actor_id.is_(None), R.subject().in_(addresses)))
    for extra in groups:
        for subj, b, item, lo_seq, hi_seq, uid, name in _items(session, rule, catalog, dialect, first - 1, upto, *extra):
            if (subj, b) in unknown:
                counted.add(subj, b, item, lo_seq, hi_seq, uid, name)


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


#: a window is kept in memory until this long after it ended (a later entry in a forgotten one reads the log)
MARGIN = timedelta(minutes=5)
#: more entries than this counted by other scanners since this one's last scan: count the windows afresh
GAP = 10 * BATCH


@dataclass
class _Window:
    """One subject's window as counted so far: the distinct items (entries for most rules), the first and the
    last seq, and who (the greatest actor id and name, as the SQL count reports them)."""

    items: set = field(default_factory=set)
    first: int = 0
    last: int = 0
    uid: str | None = None
    name: str | None = None


class _Counted:
    """What this process has counted of one rule's windows: every matching entry up to seq `upto` (whose MAC
    is `mac`) is in `windows` — except in a window starting before `cold` (its early entries came before this
    memory began) or ending by `evicted` (forgotten): such a window is read from the log when it is next
    touched. A scan therefore reads only the entries after `upto`, whatever the hour's volume."""

    def __init__(self, key: tuple, upto: int, mac: str | None, cold: datetime):
        self.key, self.upto, self.mac, self.cold = key, upto, mac, cold
        self.evicted: datetime | None = None
        self.windows: dict[tuple[str, int], _Window] = {}

    def unknown(self, bucket: int, minutes: int) -> bool:
        """Whether a window absent from memory may still hold entries counted before (read it from the log)."""
        start, end = window_of(bucket, minutes)
        return start < self.cold or (self.evicted is not None and end <= self.evicted)

    def add(self, subj: str, bucket: int, item, lo: int, hi: int, uid: str | None, name: str | None) -> None:
        """Count one item (first seen in seqs lo … hi) in a window."""
        w = self.windows.get((subj, bucket))
        if w is None:
            w = self.windows[(subj, bucket)] = _Window(first=lo)
        w.items.add(item)
        w.first, w.last = min(w.first or lo, lo), max(w.last, hi)
        if uid is not None and (w.uid is None or uid > w.uid):
            w.uid = uid
        if name is not None and (w.name is None or name > w.name):
            w.name = name

    def forget(self, before: datetime, minutes: int) -> None:
        """Drop the windows that ended before `before` (a late entry in one reads it from the log again)."""
        gone = [k for k in self.windows if window_of(k[1], minutes)[1] <= before]
        for k in gone:
            del self.windows[k]
        self.evicted = before if self.evicted is None else max(self.evicted, before)


class _Macs:
    """The MAC of an entry by seq (none for 0), each read once in a scan's read transaction."""

    def __init__(self, session: Session):
        self._session = session
        self._known: dict[int, str | None] = {0: None}

    def __call__(self, seq: int) -> str | None:
        if seq not in self._known:
            self._known[seq] = self._session.execute(select(LOG.c.mac).where(LOG.c.seq == seq)).scalar()
        return self._known[seq]


class _Memory:
    """Per runtime (so per audit log): the counted windows of each rule, used by one scan at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules: dict[str, _Counted] = {}

    def counted(self, session: Session, rule: R.Rule, catalog, dialect: str, ck: int, mac: _Macs) -> _Counted:
        """The rule's memory if it still counts the same entries the same way and reaches up to the
        checkpoint `ck`; otherwise a fresh one starting at `ck` (its windows are read from the log)."""
        key = _key(session, rule, catalog, dialect)
        c = self.rules.get(rule.code)
        if c is None or c.key != key or not ck - GAP <= c.upto <= ck or mac(c.upto) != c.mac:
            # entries up to ck were counted by no one here: any window up to the newest entry's may hold some
            newest = session.execute(select(func.max(LOG.c.ts))).scalar() if ck else None  # the ts index: a step
            cold = newest + timedelta(microseconds=1) if newest else datetime.min.replace(tzinfo=timezone.utc)
            c = self.rules[rule.code] = _Counted(key, ck, mac(ck), cold)
        return c


def _key(session: Session, rule: R.Rule, catalog, dialect: str) -> tuple:
    """What the counts depend on besides the log: the rule's settings (not its limit), the level-1 fields it
    looks for, the company calendar it reads."""
    key: tuple = (rule.window_minutes, json.dumps(rule.params, sort_keys=True, default=str))
    if rule.code == "level1_reveals":
        key += tuple(R.level1_keys(catalog))
    if rule.code == "off_hours":
        for kind in ("holiday", "workday"):
            key += (kind, *sorted(session.execute(R.calendar_days(kind, dialect)).scalars()))
    return key


_MEMORIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_MEMORIES_LOCK = threading.Lock()


def _memory(kehu) -> _Memory:
    with _MEMORIES_LOCK:
        m = _MEMORIES.get(kehu)
        if m is None:
            m = _MEMORIES[kehu] = _Memory()
        return m


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
