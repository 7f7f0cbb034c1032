"""The grouped sources of a full evaluation, materialised into temporary tables before the frame reads them.

Each source (orders, items, follow-ups, …) is one grouped query: a row per customer with the
aggregates the rules need. On a SQLite file the queries run on worker connections over ranges of
customers, `workers` at a time — SQLite runs a statement on one core, and a file store lets several
readers run at once — and their rows are loaded into the evaluating connection's temporary tables
as they arrive. The evaluating transaction already holds the write lock (writers BEGIN IMMEDIATE),
so no commit can fall between its view of the store and the workers' snapshots. On PostgreSQL (or
an in-memory SQLite store) each query runs as INSERT … SELECT inside the transaction itself.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from kehu.db import Prepared
from kehu.tags.compiler import source_customer

#: grouped queries run this many at a time on a SQLite file (the machine's cores; more only queue)
WORKERS = 2
#: ranges of customers each source is cut into, so the slow sources spread over the workers
PARTS = 4


def materialise(conn, queries: dict[str, Any], *, workers: int | None = None, parts: int | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Table]:
    """Temporary tables `tag_src_<name>` (cid primary key + the query's aggregate columns), filled."""
    tables = {}
    for name, q in queries.items():
        t = Table(f"tag_src_{name}", MetaData(), Column("cid", String(32), primary_key=True),
                  *[Column(c.key, c.type) for c in q.selected_columns if c.key != "cid"], prefixes=["TEMPORARY"])
        t.drop(conn, checkfirst=True)
        t.create(conn)
        tables[name] = t
    workers = WORKERS if workers is None else workers
    engine = conn.engine
    url = engine.url
    in_file = engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:") \
        and "mode=memory" not in str(url)
    if not queries or not in_file or workers < 2:
        for name, q in queries.items():
            conn.execute(insert(tables[name]).from_select([c.key for c in q.selected_columns], q))
            if progress:
                progress(name)
        return tables
    tasks = [(name, lo, hi) for name in queries for lo, hi in _ranges(conn, PARTS if parts is None else parts)]
    raw = conn.connection.driver_connection
    left = {name: sum(1 for t in tasks if t[0] == name) for name in queries}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kehu-tag-source") as pool:
        futures = {pool.submit(_fetch, engine, _bounded(queries[name], name, lo, hi)): name
                   for name, lo, hi in tasks}
        try:
            for fut in as_completed(futures):
                name = futures[fut]
                rows = fut.result()
                t = tables[name]
                raw.executemany(f"INSERT INTO {t.name} ({', '.join(c.key for c in t.c)}) "
                                f"VALUES ({', '.join('?' for _ in t.c)})", rows)
                left[name] -= 1
                if progress and not left[name]:
                    progress(name)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return tables


def _ranges(conn, parts: int) -> list[tuple[str | None, str | None]]:
    """`parts` ranges [lo, hi) of customer ids with about as many customers each (None: open end)."""
    from kehu.customers.models import Customer

    cid = Customer.__table__.c.id
    total = conn.execute(select(func.count()).select_from(Customer.__table__)).scalar_one()
    cuts: list[str] = []
    for j in range(1, parts):
        row = conn.execute(select(cid).order_by(cid).limit(1).offset(total * j // parts)).first()
        if row is not None and (not cuts or row[0] > cuts[-1]):
            cuts.append(row[0])
    bounds: list[str | None] = [None, *cuts, None]
    return list(zip(bounds[:-1], bounds[1:]))


def _bounded(q, name: str, lo: str | None, hi: str | None):
    col = source_customer(name)
    if lo is not None:
        q = q.where(col >= lo)
    if hi is not None:
        q = q.where(col < hi)
    return q


def _fetch(engine, q) -> list[tuple]:
    """The rows of a grouped query on a connection of its own, as the driver returns them (stored values)."""
    p = Prepared(q, engine.dialect)
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()
        try:
            cur.execute(p.sql, [p.fixed[k] for k in p.order] if p.order is not None else p.fixed)
            return cur.fetchall()
        finally:
            cur.close()
    finally:
        raw.close()
