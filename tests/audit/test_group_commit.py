"""The group committer: read entries are durable before the read returns, many requests per commit."""
from __future__ import annotations

import asyncio
import os
import re
import threading
import time

import pytest
from sqlalchemy import text

from kehu.access import service as access
from kehu.audit.chain import verify
from kehu.customers import service
from kehu.edge import read_as
from tests.fixtures.world import create_customer


def _count(kehu, action: str) -> int:
    with kehu.db.engine.connect() as c:  # a connection of its own: sees only what was committed
        return c.execute(text("SELECT count(*) FROM audit_log WHERE action = :a"), {"a": action}).scalar()


def _token(kehu, world, username: str) -> str:
    with kehu.db.transaction() as s:
        return access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1").token


def _entry(kehu, n: int = 0) -> dict:
    return kehu.audit.entry(action="test.read", actor_name="tester", detail={"n": n})


def test_awaited_read_is_committed_before_it_returns(kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    token = _token(kehu, world, "alice")
    before = _count(kehu, "customer.read")
    body = asyncio.run(read_as(kehu, token=token, ip="127.0.0.1", action="customer.read", target=no,
                               fn=lambda s, ctx: service.get(s, ctx, archive_no=no)))
    assert body["archive_no"] == no
    assert _count(kehu, "customer.read") == before + 1
    with kehu.db.reader() as s:
        assert verify(s, kehu.audit).ok


def test_one_round_of_the_event_loop_is_one_commit(kehu):
    writer = kehu.audit_writer

    async def round_of(n: int) -> None:
        await asyncio.gather(*(writer.committed([_entry(kehu, i)]) for i in range(n)))

    asyncio.run(round_of(1))  # the head row exists from here on
    commits = writer.commits
    asyncio.run(round_of(6))
    assert _count(kehu, "test.read") == 7
    assert writer.commits == commits + 1


def test_a_failed_commit_fails_every_waiter(kehu, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(kehu.audit, "append_raw", broken)

    async def round_of(n: int) -> list:
        return await asyncio.gather(*(kehu.audit_writer.committed([_entry(kehu, i)]) for i in range(n)),
                                    return_exceptions=True)

    results = asyncio.run(round_of(3))
    assert all(isinstance(r, RuntimeError) for r in results), results
    with pytest.raises(RuntimeError):
        kehu.audit_writer.submit([_entry(kehu)])
    assert _count(kehu, "test.read") == 0


def test_a_read_whose_entry_cannot_be_committed_is_not_answered(kehu, world, monkeypatch):
    from fastapi.testclient import TestClient

    from kehu.app import create_app

    no = create_customer(kehu, as_user=world.ctx("alice"))
    headers = {"Authorization": f"Bearer {_token(kehu, world, 'alice')}"}
    with TestClient(create_app(kehu), raise_server_exceptions=False) as client:
        assert client.get(f"/api/v1/customers/{no}", headers=headers).status_code == 200
        def broken(*_a, **_k):
            raise OSError("I/O error")

        monkeypatch.setattr(kehu.audit, "append_raw", broken)
        for path in (f"/api/v1/customers/{no}", f"/api/v1/customers/{no}/history", "/api/v1/customers"):
            r = client.get(path, headers=headers)
            assert r.status_code == 500 and no not in r.text, path


def test_loop_hands_the_round_to_the_writer_while_another_writer_holds_the_lock(kehu, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("commits on the event loop are SQLite's")
    asyncio.run(kehu.audit_writer.committed([_entry(kehu)]))
    holder = kehu.db.engine.raw_connection()
    holder.driver_connection.execute("BEGIN IMMEDIATE")  # another writer, e.g. an import chunk
    ticks = []

    async def main() -> None:
        async def ticker() -> None:
            for _ in range(40):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        tick = asyncio.ensure_future(ticker())
        threading.Timer(0.3, holder.driver_connection.execute, ("COMMIT",)).start()
        started = time.monotonic()
        await kehu.audit_writer.committed([_entry(kehu, 1)])
        assert time.monotonic() - started >= 0.2  # it waited for the lock …
        await tick

    asyncio.run(main())
    holder.close()
    assert _count(kehu, "test.read") == 2
    assert len([t for t in ticks if t - ticks[0] < 0.25]) >= 5  # … without blocking the event loop


def test_writer_takes_the_write_lock_before_the_chain_lock(kehu, world):
    """A write transaction holding the store's write lock commits while the writer thread waits for that lock."""
    ctx = world.ctx("alice")
    done = threading.Event()
    started = time.monotonic()
    with kehu.db.transaction() as s:
        ctx.audit(s, action="test.write")
        s.flush()
        threading.Thread(target=lambda: (kehu.audit_writer.submit([_entry(kehu)]), done.set()), daemon=True).start()
        time.sleep(0.2)  # the writer thread is now waiting for the write lock (SQLite) or for nothing (PostgreSQL)
    assert done.wait(10)
    assert time.monotonic() - started < 10
    assert _count(kehu, "test.write") == 1 and _count(kehu, "test.read") == 1
    with kehu.db.reader() as s:
        assert verify(s, kehu.audit).ok


def test_entries_from_both_paths_store_the_same_timestamp_format(kehu, world, db_url):
    create_customer(kehu, as_user=world.ctx("alice"))  # an entry chained in its transaction
    kehu.audit_writer.submit([_entry(kehu)])  # one from the writer thread
    asyncio.run(kehu.audit_writer.committed([_entry(kehu)]))  # one committed from the event loop
    with kehu.db.engine.connect() as c:
        kinds = {type(v) for (v,) in c.execute(text("SELECT ts FROM audit_log"))}
        rows = c.execute(text("SELECT count(*) FROM audit_log WHERE ts >= :t"),
                         {"t": "2000-01-01 00:00:00.000000"}).scalar()
        stored = [v for (v,) in c.execute(text("SELECT ts FROM audit_log"))]
    assert len(kinds) == 1
    if db_url.startswith("sqlite"):  # SQLAlchemy's own text form, so range queries compare like with like
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", v) for v in stored), stored
    assert rows == len(stored)


def test_a_round_the_writer_cannot_commit_in_time_fails(kehu, db_url):
    asyncio.run(kehu.audit_writer.committed([_entry(kehu)]))  # the head row exists
    kehu.audit_writer.timeout = 0.3
    holder = kehu.db.engine.connect()
    if db_url.startswith("sqlite"):
        holder.connection.driver_connection.execute("BEGIN IMMEDIATE")  # SQLite: the write lock
    else:
        holder.begin()
        holder.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))  # PostgreSQL: the chain head
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            asyncio.run(kehu.audit_writer.committed([_entry(kehu, 1)]))
        assert time.monotonic() - started < 5
    finally:
        if db_url.startswith("sqlite"):
            holder.connection.driver_connection.execute("ROLLBACK")
        else:
            holder.rollback()
        holder.close()


def test_a_round_goes_to_the_writer_thread_unless_committed_on_the_loop(kehu, db_url):
    """By default the writer thread commits a round (the loop serves requests during the fsync); with
    `commit_on_loop` on SQLite the loop commits it itself when the locks are free."""
    from kehu.audit.chain import GroupCommitter

    async def round_of(writer, n: int) -> None:
        await asyncio.gather(*(writer.committed([_entry(kehu, i)]) for i in range(n)))

    threaded = GroupCommitter(kehu.db, kehu.audit)
    asyncio.run(round_of(threaded, 3))
    assert threaded._thread is not None and threaded.committed_entries == 3
    on_loop = GroupCommitter(kehu.db, kehu.audit, commit_on_loop=True)
    asyncio.run(round_of(on_loop, 4))
    if db_url.startswith("sqlite"):
        assert on_loop._thread is None and (on_loop.commits, on_loop.committed_entries) == (1, 4)
    else:  # PostgreSQL reads run in worker threads: rounds always go to the writer thread
        assert on_loop._thread is not None and on_loop.committed_entries == 4
    assert _count(kehu, "test.read") == 7
    with kehu.db.reader() as s:
        assert verify(s, kehu.audit).ok


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
def test_the_writer_thread_never_preempts_the_loop_that_wakes_it(kehu):
    """SCHED_BATCH: woken by a hand-over, its first need is the GIL the waking loop holds."""
    asyncio.run(kehu.audit_writer.committed([_entry(kehu)]))
    thread = kehu.audit_writer._thread  # it ends after a second without work
    assert thread is not None and thread.is_alive()
    assert os.sched_getscheduler(thread.native_id) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) != os.SCHED_BATCH  # the caller's own policy is untouched
