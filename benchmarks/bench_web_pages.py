"""Server time of the main web pages on the 1M-customer store (issue 3: no page over 300 ms).

    .venv/bin/python benchmarks/bench_web_pages.py            # needs the store of bench_foundation.py
    .venv/bin/python benchmarks/bench_foundation.py --customers 1000000   # builds it first (once)

Each page is requested in-process through the ASGI app (Starlette's TestClient: no network), as the
role that uses it, `--repeat` times after a warm-up; the figure is the server time per request
(p50 / p99 / max, ms). Baseline in the same run: `/healthz` through the same client, i.e. the
framework's own floor. Every loop is bounded; nothing listens on a port.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench_foundation import Store  # noqa: E402
from kehu import demo  # noqa: E402
from kehu.access import service as access  # noqa: E402
from kehu.app import create_app  # noqa: E402
from kehu.web.session import SESSION_COOKIE  # noqa: E402

LIMIT_MS = 300.0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def session_for(kehu, username: str) -> str:
    with kehu.db.transaction() as s:
        result = access.login(s, kehu=kehu, username=username, password=demo.DEMO_PASSWORD, ip="127.0.0.1",
                              kind="web")
    assert result.token, result.error
    return result.token


def timed(client: TestClient, path: str, cookie: str | None, repeat: int) -> list[float]:
    client.cookies.clear()
    if cookie:
        client.cookies.set(SESSION_COOKIE, cookie)
    for _ in range(3):  # warm-up
        client.get(path)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    store = Store(args.data)
    if not store.db.exists():
        sys.exit("no bench store: run benchmarks/bench_foundation.py first")
    kehu = store.kehu()
    with kehu.db.reader() as s:
        count = s.execute(text("SELECT count(*) FROM customers")).scalar()
        staff = s.execute(text("SELECT u.username, u.id FROM users u JOIN roles r ON r.id = u.role_id "
                               "WHERE r.code = 'staff' ORDER BY u.username LIMIT 1")).one()
        rng = random.Random(7)
        offset = rng.randrange(max(1, count - 10))
        info_no = s.execute(text("SELECT archive_no FROM customers ORDER BY id LIMIT 1 OFFSET :o"),
                            {"o": offset}).scalar()
        staff_no, staff_name = s.execute(text("SELECT archive_no, name_pinyin FROM customers WHERE owner_id = :u "
                                              "ORDER BY id DESC LIMIT 1"), {"u": staff[1]}).one()
        region = s.execute(text("SELECT region FROM customers WHERE region IS NOT NULL LIMIT 1")).scalar()
    app = create_app(kehu)
    cookies = {u: session_for(kehu, u) for u in ("info", "head", staff[0], "admin", "auditor")}
    pages = [
        ("info", "/customers"),
        ("info", "/customers?sort=name"),
        ("info", f"/customers?q={staff_name[:6]}"),
        ("info", "/customers?q=%E5%BC%A0"),  # 张: a very common surname, prefix search
        ("info", f"/customers?region={region}&kind=organisation&sort=updated"),
        ("info", f"/customers/{info_no}"),
        ("info", f"/customers/{info_no}/history"),
        ("info", f"/customers/{info_no}/card"),
        ("info", f"/customers/{info_no}/edit"),
        ("head", "/customers"),
        ("head", "/customers?status=active"),
        (staff[0], "/customers"),
        (staff[0], f"/customers/{staff_no}"),
        (staff[0], "/customers/new"),
        ("admin", "/admin/users"),
        ("admin", "/admin/roles"),
        ("admin", "/admin/catalog"),
        ("auditor", "/audit"),
    ]
    print(f"web pages on {count:,} customers, {args.repeat} requests each (in-process, server time):")
    with TestClient(app) as client:
        base = timed(client, "/healthz", None, args.repeat)
        b50 = statistics.median(base) * 1000
        print(f"  {'baseline /healthz':52s} p50 {b50:7.2f} ms  p99 {pct(base, 99) * 1000:7.2f} ms")
        worst = 0.0
        for user, path in pages:
            t = timed(client, path, cookies[user], args.repeat)
            p50, p99, mx = statistics.median(t) * 1000, pct(t, 99) * 1000, max(t) * 1000
            worst = max(worst, mx)
            print(f"  {user:8s} {path[:43]:43s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {mx:7.2f} ms"
                  f"  (×{p50 / b50:.0f} baseline)")
    verdict = "met" if worst <= LIMIT_MS else "MISSED"
    print(f"slowest single request: {worst:.1f} ms; target ≤ {LIMIT_MS:.0f} ms for every page: {verdict}")


if __name__ == "__main__":
    main()
