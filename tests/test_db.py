"""Database plumbing: read transactions on kept connections, prepared statements."""
from __future__ import annotations

import pytest
from sqlalchemy import bindparam, func, insert, select, text

from kehu.audit.models import AuditEntry
from kehu.db import prepared, utcnow


def test_a_read_runs_on_a_kept_connection_in_a_transaction_of_its_own(kehu):
    db = kehu.db
    with db.reader() as s:
        s.execute(text("SELECT 1"))
        conn = s.connection()
        assert conn.in_transaction()
    assert db._idle_readers == [conn] and not conn.in_transaction()
    with db.reader() as s:
        assert s.connection() is conn  # the same connection, a new transaction
    db.engine.dispose()
    assert db._idle_readers == []
    with db.reader() as s:  # a disposed engine's connection is not reused
        assert s.connection() is not conn


def test_a_read_is_one_snapshot_for_prepared_statements_and_orm_queries(kehu, db_url):
    """SQLite begins the read on the DB-API connection; an ORM query joins that transaction (no second BEGIN)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL reads in READ COMMITTED: each statement sees the latest commits")
    count = lambda: select(func.count().label("n")).select_from(AuditEntry.__table__)  # noqa: E731
    with kehu.db.reader() as s:
        before = prepared(s, ("test", "count"), count).first(s)[0]  # the snapshot starts here
        with kehu.db.transaction() as w:  # another connection commits meanwhile
            kehu.audit.stage(w, action="test.write")
        assert s.execute(count()).scalar() == before  # the ORM query reads the same snapshot
        assert prepared(s, ("test", "count"), count).first(s)[0] == before
    with kehu.db.reader() as s:
        assert s.execute(count()).scalar() == before + 1
        assert prepared(s, ("test", "count"), count).first(s)[0] == before + 1
    [conn] = kehu.db._idle_readers
    assert not conn.in_transaction() and not conn.connection.driver_connection.in_transaction


def test_a_read_with_prepared_statements_only_ends_its_transaction(kehu, db_url):
    count = lambda: select(func.count().label("n")).select_from(AuditEntry.__table__)  # noqa: E731
    with pytest.raises(ZeroDivisionError), kehu.db.reader() as s:
        prepared(s, ("test", "count"), count).first(s)
        1 / 0
    [conn] = kehu.db._idle_readers
    assert not conn.in_transaction()
    if db_url.startswith("sqlite"):
        assert not conn.connection.driver_connection.in_transaction
    with kehu.db.transaction() as w:  # a reader left nothing open: writers are not blocked by it
        kehu.audit.stage(w, action="test.write")
    with kehu.db.reader() as s:
        assert prepared(s, ("test", "count"), count).first(s)[0] == s.execute(count()).scalar()


def test_sqlite_hands_out_the_connection_given_back_last(kehu, db_url):
    """Its page cache is still valid after its own commits (the audit writer takes one per batch)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("a SQLite connection's page cache")
    held = [kehu.db.engine.raw_connection() for _ in range(3)]
    last = held[-1].driver_connection
    for c in held:
        c.close()
    again = kehu.db.engine.raw_connection()
    assert again.driver_connection is last  # the one given back last
    again.close()


def test_a_failed_read_leaves_its_connection_usable(kehu):
    with pytest.raises(Exception), kehu.db.reader() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    with kehu.db.reader() as s:  # PostgreSQL: the aborted transaction was rolled back
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_a_read_sees_what_was_committed_before_it_began(kehu):
    with kehu.db.reader() as s:
        before = s.execute(text("SELECT count(*) FROM audit_log")).scalar()
    with kehu.db.transaction() as s:
        kehu.audit.stage(s, action="test.write")
    with kehu.db.reader() as s:
        assert s.execute(text("SELECT count(*) FROM audit_log")).scalar() == before + 1


def test_prepared_statements_bind_like_sqlalchemy(kehu):
    """Values pass the columns' bind processors (UTC datetimes on SQLite) in selects and inserts alike."""
    now = utcnow()
    row = {c.key: None for c in AuditEntry.__table__.columns} | {
        "seq": 10**9, "ts": now, "action": "test.prepared", "outcome": "ok", "prev_mac": "0" * 64, "mac": "1" * 64}
    with kehu.db.transaction() as s:
        conn = s.connection()
        raw = conn.connection.driver_connection
        prepared(conn, ("test", "insert"), lambda: insert(AuditEntry.__table__)).executemany(raw, [row])
    with kehu.db.reader() as s:
        found = prepared(s, ("test", "by ts"), lambda: select(AuditEntry.seq, AuditEntry.ts).where(
            AuditEntry.ts >= bindparam("t"))).all(s, t=now)
        orm = s.execute(select(AuditEntry.seq).where(AuditEntry.ts >= now)).scalars().all()
    assert [r.seq for r in found] == orm == [10**9]
    assert found[0].ts == now
