"""Benchmark: the tag quality dashboard — counting live (the old page) vs reading stored figures vs counting them.

    flock /tmp/kehu-bench.lock nice -n 10 python benchmarks/bench_tag_quality.py [--repeat 3] [--reads 200]

On the shared 1M store (`benchmarks/bigstore.py`, evaluated already: its tags are held; migrated to the code's
head with `kehu migrate`), in one process, nothing else writing (the lock):

1. **old** — `kehu.tags.quality.dashboard` as it was before the figures were stored (the file at `--baseline`,
   read from git), which counted holders, changes, contradictions and group conflicts on every view;
2. **check** — `quality_snapshot.measure_now` (the count of 立即检查, in a read transaction) and the row written;
   old and check alternate, `--repeat` times each;
3. **page** — the new `quality.dashboard` (the newest snapshot, the catalogue, the reviews), `--reads` times;
4. **evaluation** — `engine.evaluate_all` as of the data's last day (nothing changes on an evaluated store),
   whose `quality` step counts the figures over the evaluation's own frame; rolled back.

Checked, or the bench fails: the new dashboard after a check shows exactly the old dashboard's figures; the
evaluation's snapshot has the same holders, changes, customers and conflicts, and the old code's
contradictions counted as of the evaluation's day. The store keeps the checks' snapshot rows (counts only).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bigstore  # noqa: E402

AS_OF = bigstore.TODAY
STORE = bigstore.DATA / "big-1000000-10000000.db"


class _Rollback(Exception):
    """Ends the evaluation's transaction without committing it."""


class _Manager:
    """A principal holding the dashboard's rights (the services only ask `has`)."""

    user_id = None
    username = "bench"

    def has(self, _capability: str) -> bool:
        return True


def old_module(rev: str):
    """The dashboard module as of `rev` (before the figures were stored), loaded beside the current code."""
    source = subprocess.run(["git", "-C", str(HERE.parent), "show", f"{rev}:src/kehu/tags/quality.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("kehu_tags_quality_old")
    exec(compile(source, f"{rev}:quality.py", "exec"), module.__dict__)
    return module


def runtime(store: Path):
    """Kehu over the store, refusing one that is not at the code's migration head."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from kehu.config import Settings
    from kehu.db import Database
    from kehu.runtime import Kehu
    from kehu.security.keyring import load_keyring
    from kehu.setup import alembic_config

    url = f"sqlite:///{store}"
    db = Database(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with db.engine.connect() as conn:
        at = MigrationContext.configure(conn).get_current_revision()
    if at != head:
        sys.exit(f"{store} is at {at}, the code's head is {head}: run `kehu migrate` on it first")
    keys = bigstore.keys_for(store)
    return Kehu(Settings(database_url=url, key_file=keys, var_dir=Path("/tmp/kehu-bench-var")),
                keys=load_keyring(env_value=None, path=keys), db=db)


def ctx_of(kehu, session):
    """A call context of the manager principal."""
    from kehu.runtime import Ctx

    return Ctx(kehu=kehu, principal=_Manager(), catalog=kehu.catalog(session), epoch=kehu.epoch(session))


def note(**figures) -> None:
    """A figure as soon as it is known (stderr)."""
    print(json.dumps(figures, ensure_ascii=False), file=sys.stderr, flush=True)


def comparable(board: dict) -> dict:
    """The dashboard's figures, without what only the new one has (when, how, notices)."""
    keys = ("holders", "coverage", "change_rate", "reviewed", "errors", "error_rate", "usage_count", "contradictions")
    return {"customers": board["customers"], "groups": sorted((g["group"], g["customers"]) for g in board["groups"]),
            "tags": {t["code"]: {k: t[k] for k in keys} for t in board["tags"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=STORE)
    ap.add_argument("--baseline", default="b4396ed", help="git revision of the live dashboard (before this work)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the old dashboard and of the check")
    ap.add_argument("--reads", type=int, default=200, help="reads of the new dashboard")
    ap.add_argument("--evaluations", type=int, default=1, help="full evaluations (rolled back)")
    args = ap.parse_args()

    from kehu.tags import engine, quality, quality_snapshot

    old = old_module(args.baseline)
    kehu = runtime(args.store)
    olds, checks, check_parts, boards = [], [], [], []
    for _ in range(args.repeat):  # alternating, so neither finds the other's pages cached more often
        with kehu.db.reader() as s:
            ctx = ctx_of(kehu, s)
            t0 = time.perf_counter()
            old_board = old.dashboard(s, ctx)
            olds.append(time.perf_counter() - t0)
        note(old_dashboard_s=round(olds[-1], 2))
        t0 = time.perf_counter()
        laps = engine.Laps()
        with kehu.db.reader() as s:
            figures = quality_snapshot.measure_now(s, kehu.catalog(s), lap=laps)
        with kehu.db.transaction() as s:
            quality_snapshot.store(s, figures, trigger="check", actor_id=None)
        checks.append(time.perf_counter() - t0)
        check_parts.append(laps.done())
        note(check_s=round(checks[-1], 2), counted_ms=figures["duration_ms"], parts=check_parts[-1])
        with kehu.db.reader() as s:
            new_board = quality.dashboard(s, ctx_of(kehu, s))
        assert comparable(new_board) == comparable(old_board), "the stored figures differ from the live ones"
        boards.append(new_board)
    reads = []
    with kehu.db.reader() as s:
        ctx = ctx_of(kehu, s)
    for _ in range(args.reads):
        with kehu.db.reader() as s:
            t0 = time.perf_counter()
            quality.dashboard(s, ctx)
            reads.append((time.perf_counter() - t0) * 1000)
    reads.sort()
    note(page_ms_median=round(statistics.median(reads), 2), page_ms_p95=round(reads[int(0.95 * (len(reads) - 1))], 2))
    evaluations = []
    for _ in range(args.evaluations):
        t0 = time.perf_counter()
        try:
            with kehu.db.transaction() as s:
                stats = engine.evaluate_all(s, kehu.catalog(s), as_of=AS_OF)
                seconds = time.perf_counter() - t0
                snap = quality_snapshot.view(s, ctx_of(kehu, s), quality_snapshot.latest(s))
                raise _Rollback
        except _Rollback:
            pass
        evaluations.append({"seconds": round(seconds, 2), "quality_s": stats["seconds"].get("quality"),
                            "phases": stats["seconds"]})
        note(evaluation=evaluations[-1])
    if evaluations:  # the evaluation's figures: holders etc. as the old page; contradictions as of its day
        old.today = lambda: AS_OF
        with kehu.db.reader() as s:
            flags = old.contradictions(s, ctx_of(kehu, s))
            checked = quality_snapshot.view(s, ctx_of(kehu, s), quality_snapshot.latest(s))  # = the old figures
        assert snap["customers"] == checked["customers"] and snap["groups"] == checked["groups"]
        assert ({c: (f["holders"], f["changes_30d"]) for c, f in snap["tags"].items()}
                == {c: (f["holders"], f["changes_30d"]) for c, f in checked["tags"].items()})
        assert {c: f["contradictions"] for c, f in snap["tags"].items() if c in flags} == flags
    result = {
        "store": str(args.store), "baseline": args.baseline, "customers": boards[-1]["customers"],
        "held_tags": sum(t["holders"] for t in boards[-1]["tags"]),
        "old_dashboard_s": [round(x, 2) for x in olds], "old_dashboard_median_s": round(statistics.median(olds), 2),
        "check_s": [round(x, 2) for x in checks], "check_median_s": round(statistics.median(checks), 2),
        "check_parts_s": check_parts,
        "page_ms": {"n": len(reads), "median": round(statistics.median(reads), 2),
                    "p95": round(reads[int(0.95 * (len(reads) - 1))], 2), "max": round(reads[-1], 2)},
        "ratio_old_vs_page": round(statistics.median(olds) * 1000 / statistics.median(reads)),
        "evaluations": evaluations, "same_figures": True,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    kehu.db.engine.dispose()


if __name__ == "__main__":
    main()
