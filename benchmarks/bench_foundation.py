"""Foundation bench: bulk load, exact lookup by mobile, and the detail endpoint's HTTP throughput.

    .venv/bin/python benchmarks/bench_foundation.py                      # quick check (20 000 customers)
    .venv/bin/python benchmarks/bench_foundation.py --customers 1000000  # the figure in RESULTS.md

1. Builds a fresh SQLite store under benchmarks/data/ (migrations + bootstrap) and loads N demo
   customers (kehu.demo, Faker zh_CN, fixed seed) through kehu.customers.bulk: rows/s.
2. Exact lookup by mobile through customers.service.list_(q=mobile) — blind index, scope, decryption,
   masking, audit entry and commit — p50/p99 in ms, next to raw indexed SELECTs in the same run.
3. GET /api/v1/customers/{no} served by uvicorn (own process, one worker, 127.0.0.1) under a bounded
   concurrent keep-alive load, next to a bare FastAPI app returning the same JSON under the same load
   (its sync endpoint, the issue's baseline, and an async one: see bare_app.py).

Every figure is printed next to its baseline from the same run; nothing here is a test. Every loop is
bounded in count and time; servers listen on 127.0.0.1 only and are stopped at the end.
`--reuse` skips step 1 when benchmarks/data/ already holds a store of the same size and seed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
# the measured servers run no scheduled full tag evaluation (a store loaded without tags is due at once)
os.environ.setdefault("KEHU_TAG_SCHEDULE", "0")

from sqlalchemy import event, text  # noqa: E402

from kehu import demo  # noqa: E402
from kehu.access import service as access  # noqa: E402
from kehu.config import Settings  # noqa: E402
from kehu.customers import service  # noqa: E402
from kehu.db import Database  # noqa: E402
from kehu.edge import run_as  # noqa: E402
from kehu.runtime import Kehu  # noqa: E402
from kehu.security.keyring import KeyRing, load_keyring  # noqa: E402
from kehu.setup import bootstrap, migrate  # noqa: E402


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- 1. store ----------------------------------------------------------------------------------

class Store:
    """Paths of the bench store."""

    def __init__(self, data: Path):
        self.dir = data
        self.db = data / "bench.db"
        self.keys = data / "keys.json"
        self.meta = data / "meta.json"
        self.url = f"sqlite:///{self.db}"

    def kehu(self, *, loading: bool = False) -> Kehu:
        db = Database(self.url)
        if loading:  # a big page cache while loading only; the measured runtime keeps the defaults
            event.listen(db.engine, "connect", lambda c, _r: c.execute("PRAGMA cache_size=-1048576"))
        settings = Settings(database_url=self.url, var_dir=self.dir / "var", key_file=self.keys)
        return Kehu(settings, keys=load_keyring(env_value=None, path=self.keys), db=db)


def build(store: Store, n: int, seed: int, *, samples: int) -> dict:
    """A fresh store with N demo customers; returns the load figures and the lookup samples."""
    if store.dir.exists():
        shutil.rmtree(store.dir)
    store.dir.mkdir(parents=True)
    KeyRing.generate().write(store.keys)
    kehu = store.kehu(loading=True)
    migrate(kehu.db.engine)
    bootstrap(kehu)
    rng = random.Random(seed + 1)
    reservoir: list[tuple[str, str]] = []  # (mobile, owner id), uniform over rows with a mobile
    seen = 0

    def observe(_i: int, row: dict) -> None:
        nonlocal seen
        if row.get("mobile"):
            seen += 1
            if len(reservoir) < samples:
                reservoir.append((row["mobile"], row["owner_id"]))
            else:
                j = rng.randrange(seen)
                if j < samples:
                    reservoir[j] = (row["mobile"], row["owner_id"])

    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30 or done == total:
            last[0] = time.perf_counter()
            print(f"  loaded {done:,}/{total:,}", flush=True)

    result = demo.load_demo(kehu, n=n, seed=seed, batch=2000, progress=progress, observe=observe,
                             relationships=False)  # customers only: the benches that need records generate them
    with kehu.db.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in
                  ("customers", "contacts", "addresses", "anniversaries", "relations", "customer_history")}
    kehu.db.engine.dispose()
    meta = {"customers": n, "seed": seed, "created": result.created, "rejected": result.rejected,
            "load_seconds": result.seconds, "rows_per_s": result.rate, "rows": counts,
            "db_bytes": store.db.stat().st_size, "samples": reservoir}
    store.meta.write_text(json.dumps(meta, ensure_ascii=False))
    return meta


# --- 2. lookups ---------------------------------------------------------------------------------

def login(kehu: Kehu, username: str) -> str:
    """A bearer token for a demo user (as POST /api/v1/auth/token issues it)."""
    with kehu.db.transaction() as s:
        result = access.login(s, kehu=kehu, username=username, password=demo.DEMO_PASSWORD, ip="127.0.0.1")
    assert result.token, result.error
    return result.token


def lookup_bench(kehu: Kehu, token: str, mobiles: list[str], *, warmup: int = 50) -> tuple[list[float], int]:
    """Seconds per lookup as GET /api/v1/customers?q=… runs it, minus HTTP: edge.run_as (token, scope,
    read transaction) → service.list_ (blind index, decryption, masking) → durable audit entry."""
    times, hits = [], 0
    for i, mobile in enumerate(mobiles[:warmup] + mobiles):
        t0 = time.perf_counter()
        out = run_as(kehu, token=token, ip="127.0.0.1", action="customer.list", write=False,
                     fn=lambda s, ctx, m=mobile: service.list_(s, ctx, q=m))
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            hits += len(out["items"]) == 1
    return times, hits


def raw_bench(kehu: Kehu, sql: str, keys: list, *, warmup: int = 50) -> list[float]:
    """Seconds per raw indexed SELECT on one DB-API connection (the floor under any lookup)."""
    conn = kehu.db.engine.raw_connection()
    try:
        cur = conn.cursor()
        times = []
        for i, key in enumerate(keys[:warmup] + keys):
            t0 = time.perf_counter()
            cur.execute(sql, (key,))
            row = cur.fetchall()
            dt = time.perf_counter() - t0
            assert row, "baseline row missing"
            if i >= warmup:
                times.append(dt)
        return times
    finally:
        conn.close()


# --- 3. HTTP ------------------------------------------------------------------------------------

class Server:
    """A uvicorn process on 127.0.0.1 (one worker), stopped on exit."""

    def __init__(self, target: list[str], env: dict, cwd: Path):
        self.port = free_port()
        cmd = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", "1", "--no-access-log", "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=str(cwd))

    def wait(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


async def _request(reader, writer, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _load(port: int, paths: list[str], headers: str, total: int, concurrency: int,
                timeout: float) -> tuple[float, list[float], int]:
    """`total` GETs over `concurrency` keep-alive connections; (seconds, latencies, non-200 count)."""
    counter = iter(range(total))
    lat: list[float] = []
    bad = [0]
    reqs = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() for p in paths]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in counter:
                t0 = time.perf_counter()
                status, _ = await _request(reader, writer, reqs[i % len(reqs)])
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    bad[0] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout)
    return time.perf_counter() - t0, lat, bad[0]


def load(port: int, paths: list[str], headers: str, total: int, concurrency: int, timeout: float = 600):
    """Run one bounded load (fixed request count, overall time limit)."""
    return asyncio.run(_load(port, paths, headers, total, concurrency, timeout))


def http_once(port: int, method: str, path: str, body: dict | None = None, headers: str = "") -> tuple[int, bytes]:
    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = json.dumps(body).encode() if body is not None else b""
        extra = f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n" if body is not None else ""
        raw = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{extra}\r\n".encode() + data
        try:
            return await asyncio.wait_for(_request(reader, writer, raw), 30)
        finally:
            writer.close()
    return asyncio.run(go())


def http_bench(store: Store, archive_nos: list[str], *, requests: int, concurrency: int, rounds: int) -> dict:
    """Kehu's detail endpoint next to the bare app, interleaved rounds of the same load."""
    env = {"KEHU_DATABASE_URL": store.url, "KEHU_KEY_FILE": str(store.keys), "KEHU_VAR_DIR": str(store.dir / "var"),
           "PYTHONPATH": str(ROOT / "src")}
    kehu_srv = Server(["kehu.asgi:app"], env, ROOT)  # what `kehu serve` runs (GC frozen after start-up)
    bare_srv = None
    try:
        kehu_srv.wait()
        status, body = http_once(kehu_srv.port, "POST", "/api/v1/auth/token",
                                 {"username": "info", "password": demo.DEMO_PASSWORD})
        assert status == 200, body
        auth = f"Authorization: Bearer {json.loads(body)['access_token']}\r\n"
        status, sample = http_once(kehu_srv.port, "GET", f"/api/v1/customers/{archive_nos[0]}", headers=auth)
        assert status == 200, sample
        captured = store.dir / "captured.json"
        captured.write_bytes(sample)
        bare_srv = Server(["bare_app:app"], {"BARE_JSON": str(captured)}, HERE)
        bare_srv.wait()
        paths = [f"/api/v1/customers/{no}" for no in archive_nos]
        async_paths = ["/async" + p for p in paths]
        warm = min(500, requests)
        load(kehu_srv.port, paths, auth, warm, concurrency)
        load(bare_srv.port, paths, "", warm, concurrency)
        load(bare_srv.port, async_paths, "", warm, concurrency)
        out = {"kehu": [], "bare": [], "bare_async": []}
        for _ in range(rounds):
            for name, srv, hdr, p in (("kehu", kehu_srv, auth, paths), ("bare", bare_srv, "", paths),
                                      ("bare_async", bare_srv, "", async_paths)):
                secs, lat, bad = load(srv.port, p, hdr, requests, concurrency)
                out[name].append({"rps": requests / secs, "seconds": secs, "p50_ms": pct(lat, 50) * 1000,
                                  "p99_ms": pct(lat, 99) * 1000, "non_200": bad})
                print(f"  {name}: {requests / secs:,.0f} req/s (p50 {pct(lat, 50) * 1000:.1f} ms, "
                      f"p99 {pct(lat, 99) * 1000:.1f} ms, non-200 {bad})", flush=True)
        out["response_bytes"] = len(sample)
        return out
    finally:
        kehu_srv.stop()
        if bare_srv:
            bare_srv.stop()


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20000, help="customers to load (default 20000)")
    ap.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
    ap.add_argument("--lookups", type=int, default=2000, help="random mobiles looked up")
    ap.add_argument("--requests", type=int, default=5000, help="HTTP requests per round and server")
    ap.add_argument("--concurrency", type=int, default=8, help="keep-alive connections of the HTTP load")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved HTTP rounds per server")
    ap.add_argument("--data", type=Path, default=HERE / "data", help="store directory (deleted and rebuilt)")
    ap.add_argument("--reuse", action="store_true", help="reuse the store of an earlier run with the same N/seed")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--analyze", action="store_true", help="refresh planner statistics before measuring "
                    "(a fresh load already does, like kehu demo)")
    args = ap.parse_args()
    store = Store(args.data)

    meta = json.loads(store.meta.read_text()) if args.reuse and store.meta.exists() else None
    if meta and (meta["customers"], meta["seed"]) == (args.customers, args.seed):
        print(f"reusing the store in {store.dir} ({meta['created']:,} customers)")
    else:
        print(f"loading {args.customers:,} customers into {store.db} …", flush=True)
        meta = build(store, args.customers, args.seed, samples=max(args.lookups, 200) * 2)
    print(f"load: {meta['created']:,} customers in {meta['load_seconds']:.1f} s = {meta['rows_per_s']:,.0f} "
          f"customers/s (rejected {meta['rejected']}); rows {meta['rows']}; db {meta['db_bytes'] / 2**30:.2f} GiB "
          f"when loaded, {store.db.stat().st_size / 2**30:.2f} GiB now (earlier runs' audit entries)")

    kehu = store.kehu()
    migrate(kehu.db.engine)  # a reused store follows the schema of the code being measured
    if args.analyze:
        t0 = time.perf_counter()
        demo.analyze_store(kehu)
        print(f"ANALYZE: {time.perf_counter() - t0:.1f} s")
    with kehu.db.engine.connect() as c:
        stats = c.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar()
    print(f"planner statistics: {'present' if stats else 'ABSENT (never analysed)'}")
    rng = random.Random(args.seed + 2)
    results: dict = {"load": {k: v for k, v in meta.items() if k != "samples"}, "lookup": {}, "command": sys.argv,
                     "planner_statistics": bool(stats)}
    with kehu.db.engine.connect() as c:
        ids = [r[0] for r in c.execute(text("SELECT id FROM customers WHERE rowid IN (SELECT abs(random()) % "
                                            "(SELECT max(rowid) FROM customers) + 1 FROM customers LIMIT :n)"),
                                       {"n": args.lookups * 2})][: args.lookups]
        users = dict(c.execute(text("SELECT username, id FROM users")).all())
        nos = [r[0] for r in c.execute(text("SELECT archive_no FROM customers WHERE id IN (SELECT id FROM customers "
                                            "WHERE rowid IN (SELECT abs(random()) % (SELECT max(rowid) FROM customers)"
                                            " + 1 FROM customers LIMIT 4000)) LIMIT 1000"))]
    samples = [tuple(s) for s in meta["samples"]]
    rng.shuffle(samples)

    print(f"\nexact lookup by mobile through service.list_ ({args.lookups} random mobiles each):", flush=True)
    cases = [("info_manager (scope all)", "info", [m for m, _o in samples][: args.lookups])]
    staff = [m for m, o in samples if o == users["zhangwei"]]
    if staff:
        cases.append(("staff (own customers)", "zhangwei", (staff * (args.lookups // len(staff) + 1))[: args.lookups]))
    raw_pk = raw_bench(kehu, "SELECT * FROM customers WHERE id = ?", ids)
    bis = [kehu.crypto.blind_index("mobile", m) for m, _o in samples[: args.lookups]]  # as the search computes it
    raw_bi = raw_bench(kehu, "SELECT * FROM customers WHERE mobile_bi = ?", bis)
    for label, times in (("raw SELECT by primary key", raw_pk), ("raw SELECT by mobile blind index", raw_bi)):
        print(f"  {label:40s} p50 {ms(pct(times, 50))} ms  p99 {ms(pct(times, 99))} ms")
        results["lookup"][label] = {"p50_ms": pct(times, 50) * 1000, "p99_ms": pct(times, 99) * 1000}
    base = pct(raw_pk, 50), pct(raw_pk, 99)
    for label, username, mobiles in cases:
        times, hits = lookup_bench(kehu, login(kehu, username), mobiles)
        p50, p99 = pct(times, 50), pct(times, 99)
        print(f"  service.list_ as {label:23s} p50 {ms(p50)} ms  p99 {ms(p99)} ms  (found {hits}/{len(mobiles)}; "
              f"×{p50 / base[0]:.0f} / ×{p99 / base[1]:.0f} the raw PK select; target p99 ≤ 10 ms: "
              f"{'met' if p99 <= 0.010 else 'MISSED'})", flush=True)
        results["lookup"][f"service.list_ as {label}"] = {"p50_ms": p50 * 1000, "p99_ms": p99 * 1000, "found": hits,
                                                           "n": len(mobiles), "mean_ms": statistics.mean(times) * 1000}
    kehu.db.engine.dispose()

    if not args.skip_http:
        print(f"\nGET /api/v1/customers/{{no}}: {args.requests} requests × {args.rounds} rounds, "
              f"{args.concurrency} connections, uvicorn 1 worker each:", flush=True)
        http = http_bench(store, nos, requests=args.requests, concurrency=args.concurrency, rounds=args.rounds)
        k = statistics.median(r["rps"] for r in http["kehu"])
        b = statistics.median(r["rps"] for r in http["bare"])
        a = statistics.median(r["rps"] for r in http["bare_async"])
        print(f"  median: Kehu {k:,.0f} req/s, bare FastAPI {b:,.0f} req/s → ratio {k / b:.1%} "
              f"(target ≥ 50 %: {'met' if k / b >= 0.5 else 'MISSED'}); body {http['response_bytes']} bytes")
        print(f"  bare FastAPI with an async endpoint: {a:,.0f} req/s → ratio {k / a:.1%}")
        results["http"] = {**http, "median_kehu_rps": k, "median_bare_rps": b, "ratio": k / b,
                           "median_bare_async_rps": a, "ratio_async": k / a}
    (store.dir / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(f"\nresults: {store.dir / 'results.json'}")


if __name__ == "__main__":
    main()
