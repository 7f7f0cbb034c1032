"""Database plumbing: declarative Base, engine factory (SQLite WAL or PostgreSQL) and unit of work."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are deterministic for Alembic."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both engines (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """Current time, UTC, timezone-aware."""
    return datetime.now(timezone.utc)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit (and so every audit entry) is on disk before the response leaves.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA case_sensitive_like=ON")
    cur.close()


def make_engine(url: str, **kw) -> Engine:
    """Create an engine with the settings Kehu relies on for each backend."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # Writers BEGIN IMMEDIATE: they queue on the lock instead of failing on upgrade.
            conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get("sqlite_begin", ""))

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _rec):
            dbapi_conn.isolation_level = None

        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kw)


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, **kw):
        self.url = url
        self.engine = make_engine(url, **kw)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        session = self.sessions()
        if self.dialect == "sqlite":
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()


def allocate(session: Session, counter: type, year: int, count: int = 1) -> int:
    """Reserve `count` consecutive numbers of a per-year counter table (row-locked, never reused); the first.

    `counter` is a mapped class with `year` (primary key) and `last`; the row of a new year is created
    in a savepoint so that two first-of-the-year writers do not both fail.
    """
    from sqlalchemy.exc import IntegrityError

    for _ in range(3):
        seq = session.get(counter, year, with_for_update=True)
        if seq is None:
            try:
                with session.begin_nested():
                    session.add(counter(year=year, last=0))
            except IntegrityError:
                continue
            seq = session.get(counter, year, with_for_update=True)
        first = seq.last + 1
        seq.last += count
        session.flush()
        return first
    raise RuntimeError(f"could not allocate from {counter.__tablename__}")
