"""Alarm scan throughput over a synthetic audit stream (SQLite), next to a plain read of the same entries.

    PYTHONPATH=src python benchmarks/bench_alarms.py --entries 200000 --users 200

Writes N chained audit entries (reads, list pages, reveals, denied attempts, logins; 200 users; one
simulated working day), then times (a) a full scan of all of them, (b) an incremental scan of the
last 1 % after a checkpoint, and as the baseline (c) one pass reading every entry's columns in SQL.

Then (d) the server's steady state: `--stream` more chunks of `--chunk` entries land in the current hour
(the day's last) and are scanned after each chunk as the worker does, once with the scanner's memory of
the counted windows and once, on the same state, counted afresh from the log (what every scan did before
the memory: the baseline of this figure).
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, text

from kehu.audit.models import AuditEntry
from kehu.config import Settings
from kehu.db import Database
from kehu.runtime import Kehu
from kehu.security.keyring import KeyRing
from kehu.setup import bootstrap, migrate
from kehu.supervision import scan as scan_module
from kehu.supervision.models import AlarmState
from kehu.supervision.scan import scan


def entries(n: int, users: int, rng: random.Random):
    """Synthetic audit entries, in time order over one working day (Beijing 09:00–17:00)."""
    start = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    for i in range(n):
        uid = f"u{rng.randrange(users):05d}"
        kind = rng.random()
        ts = start + timedelta(seconds=8 * 3600 * i / n)
        base = dict(actor_id=uid, actor_name=uid, ip="10.0.0.1", outcome="ok", fields=None, detail=None,
                    customer_no=None, target_type=None, target_id=None, reason=None)
        no = f"KH2026{rng.randrange(100000):07d}"
        if kind < 0.6:
            yield ts, base | dict(action="customer.read", customer_no=no, fields="customer.id_number,customer.mobile")
        elif kind < 0.8:
            recs = ", ".join(f'"KH2026{rng.randrange(100000):07d}"' for _ in range(20))
            yield ts, base | dict(action="customer.list", detail='{"q": false, "records": [' + recs + ']}')
        elif kind < 0.9:
            yield ts, base | dict(action="customer.reveal", customer_no=no, fields="customer.id_number", reason="x")
        elif kind < 0.95:
            yield ts, base | dict(action="customer.read", outcome="denied", detail='{"code": "not_found"}')
        else:
            yield ts, base | dict(action="auth.login")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=200000)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--stream", type=int, default=40, help="chunks appended and scanned one by one")
    ap.add_argument("--chunk", type=int, default=250, help="entries per chunk (~ the worker's 2 s of a busy day)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kehu-bench-alarms-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    db = Database(url)
    migrate(db.engine)
    kehu = Kehu(Settings(database_url=url, var_dir=tmp), keys=KeyRing.generate(), db=db)
    bootstrap(kehu)
    rng = random.Random(7)
    t0 = time.perf_counter()
    batch: list[dict] = []
    for ts, row in entries(args.entries, args.users, rng):
        kehu.audit.clock = lambda ts=ts: ts
        batch.append(row)
        if len(batch) == 5000:
            with kehu.db.transaction() as s:
                kehu.audit.append(s.connection(), batch)
            batch = []
    if batch:
        with kehu.db.transaction() as s:
            kehu.audit.append(s.connection(), batch)
    print(f"wrote {args.entries} entries in {time.perf_counter() - t0:.1f} s")

    with kehu.db.reader() as s:
        t0 = time.perf_counter()
        s.execute(text("SELECT count(*), count(DISTINCT actor_id), max(length(detail)), max(ts) FROM audit_log"
                       " WHERE seq > 0")).one()
        base = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = scan(kehu)
    full = time.perf_counter() - t0
    print(f"baseline: one SQL pass over {args.entries} entries: {base * 1000:.0f} ms")
    print(f"full scan of {args.entries} entries: {full * 1000:.0f} ms ({args.entries / full:,.0f} entries/s), "
          f"{full / base:.1f} × baseline; {result.raised} alerts")
    for tail in (args.entries // 100, args.entries // 1000, 20):
        with kehu.db.transaction() as s:
            s.get(AlarmState, 1).last_seq = result.last_seq - tail
        t0 = time.perf_counter()
        again = scan(kehu)
        incr = time.perf_counter() - t0
        print(f"incremental scan of the last {tail} entries: {incr * 1000:.0f} ms ({again.raised} new alerts)")
    stream(kehu, args, rng)


def stream(kehu, args, rng: random.Random) -> None:
    """Chunks of the day's last hour, each scanned with the memory and, on the same state, without it."""
    scan(kehu)
    with kehu.db.reader() as s:
        newest = s.execute(select(func.max(AuditEntry.ts))).scalar()  # in the day's last hour
    remembered, afresh = [], []
    for i in range(args.stream):
        rows = list(entries(args.chunk, max(1, args.users // 40), rng))  # the hour's busiest few users
        with kehu.db.transaction() as s:
            kehu.audit.clock = lambda: newest
            kehu.audit.append(s.connection(), [row for _ts, row in rows])
            ck = s.get(AlarmState, 1).last_seq
        t0 = time.perf_counter()
        scan(kehu)
        remembered.append(time.perf_counter() - t0)
        with kehu.db.transaction() as s:
            s.get(AlarmState, 1).last_seq = ck
        scan_module._MEMORIES.pop(kehu, None)  # forget: the windows are counted from the log, as before
        t0 = time.perf_counter()
        scan(kehu)
        afresh.append(time.perf_counter() - t0)
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    print(f"steady stream, {args.stream} chunks of {args.chunk} entries scanned one by one: median scan "
          f"{med(remembered) * 1000:.1f} ms with the memory vs {med(afresh) * 1000:.1f} ms counted afresh "
          f"({med(afresh) / med(remembered):.1f} × faster); last chunk {remembered[-1] * 1000:.1f} vs "
          f"{afresh[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
