"""Database plumbing: declarative Base, engine factory (SQLite WAL or PostgreSQL) and unit of work."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.functions import FunctionElement
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


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler with table hints: `select.with_hint(t, "INDEXED BY ix", "sqlite")` names the index
    a statement must read (SQLAlchemy's own SQLite compiler drops table hints)."""

    def get_from_hint_text(self, table, text):  # noqa: D102
        return text


class unindexed(FunctionElement):
    """A column that SQLite's planner may not use to look rows up (`+col`; the column as is elsewhere).

    For a join condition that must be read in one direction only: `i.customer_id == unindexed(o.customer_id)`
    lets the planner find `i` rows from `o` but never walk `i` to look `o` up (without statistics on a new
    index it may otherwise choose to read every row of `i`)."""

    name = "unindexed"
    inherit_cache = True

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed(element, compiler, **kw):
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw):
    return "+" + compiler.process(next(iter(element.clauses)), **kw)


class least(FunctionElement):
    """The smallest of its arguments (`least(…)`; SQLite's multi-argument `min(…)`): each argument is written,
    and so evaluated, once — `CASE WHEN x > 5 THEN 5 ELSE x END` evaluates `x` twice."""

    name = "least"
    inherit_cache = True

    def __init__(self, *args):
        super().__init__(*args)
        self.type = next(iter(self.clauses)).type


@compiles(least)
def _least(element, compiler, **kw):
    return f"least({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clauses, **kw)})"


def make_engine(url: str, **kw) -> Engine:
    """Create an engine with the settings Kehu relies on for each backend."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # every worker thread keeps its connection: an overflow connection would be opened (pragmas and
        # all) and closed again per request
        if "poolclass" not in kw:
            kw.setdefault("pool_size", 20)
            kw.setdefault("max_overflow", 20)
            # the connection given back last is handed out next: in WAL mode a connection keeps its page cache
            # across its own commits but drops it once another connection committed, so the audit writer
            # (one checkout per batch) finds its pages cached instead of taking the least recently used one
            kw.setdefault("pool_use_lifo", True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)
        engine.dialect.statement_compiler = _SQLiteCompiler
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin(conn):
            raw = conn.connection.driver_connection
            if raw.in_transaction and conn.info.get(_RAW_READ):
                return  # a read transaction `Database.reader` began on the DB-API connection: the ORM joins it
            # Writers BEGIN IMMEDIATE: they queue on the lock instead of failing on upgrade.
            # on the DB-API connection: this runs for every transaction, exec_driver_sql costs ~0.05 ms
            raw.execute("BEGIN " + conn.get_execution_options().get("sqlite_begin", ""))

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _rec):
            dbapi_conn.isolation_level = None

        return engine
    if "poolclass" not in kw:
        kw.setdefault("pool_size", 10)
        kw.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kw)


def _foreign_keys_off(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA foreign_keys=OFF")


@contextmanager
def migration_connection(url: str) -> Iterator[Connection]:
    """One connection and ONE transaction for a whole schema upgrade: all of it commits, or none of it.

    SQLite: Kehu's own engine, so DDL runs inside the transaction too (pysqlite by default begins a
    transaction only before INSERT/UPDATE/DELETE and leaves CREATE TABLE auto-committed, which is how a
    failed upgrade used to leave half of its tables behind); writers wait for it (BEGIN IMMEDIATE); and
    foreign keys are off while it runs — with them on, dropping the old table of a batch rebuild deletes
    (ON DELETE CASCADE) or refuses its children's rows — and are checked before it commits, unless the
    caller set `conn.info["kehu_schema_changed"] = False` (nothing ran: a full check of a large store
    takes minutes) or named the tables to check in `conn.info["kehu_fk_scope"]` (see `kehu.setup`).
    """
    engine = make_engine(url, poolclass=NullPool)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:  # a connect listener: the pragma is a no-op inside a transaction
        event.listen(engine, "connect", _foreign_keys_off)
    try:
        with engine.connect() as conn:
            if sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn
                changed = conn.info.get("kehu_schema_changed", True)  # unknown: check
                scope = conn.info.get("kehu_fk_scope")  # the tables the applied revisions rebuilt; None: all
                broken = []
                if sqlite and changed:
                    for pragma in (["PRAGMA foreign_key_check"] if scope is None
                                   else [f'PRAGMA foreign_key_check("{t}")' for t in scope]):
                        broken += conn.exec_driver_sql(pragma).fetchall()
                if broken:
                    raise RuntimeError(f"升级后有记录缺少其上级记录（外键）：{broken[:5]}")
    finally:
        engine.dispose()


class Database:
    """An engine and its session factory."""

    #: idle read connections kept out of the pool at most (see `reader`)
    MAX_IDLE_READERS = 4

    def __init__(self, url: str, **kw):
        self.url = url
        self.engine = make_engine(url, **kw)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        # Prepared statements reuse the session's DB-API connection until its transaction ends
        event.listen(self.sessions, "after_transaction_end", lambda s, _t: s.info.pop(_DBAPI, None))
        self._idle_readers: list[Connection] = []
        event.listen(self.engine, "engine_disposed", lambda _e: self._drop_readers())

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @property
    def reads_on_loop(self) -> bool:
        """Whether an awaited read runs on the event loop itself (`kehu.edge.read_as`).

        SQLite reads are in-process and take tens of microseconds: handing them to a worker thread costs
        more than they do. PostgreSQL reads wait on the network, so they go to a worker thread.
        """
        return self.dialect == "sqlite"

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
        """A read-only session in a read transaction of its own (rolled back at the end).

        It runs on a connection kept checked out between reads (up to MAX_IDLE_READERS idle ones): the
        transaction is begun on it first and the session joins it, so a read costs no pool checkout,
        pre-ping or reset, and prepared statements (`Prepared`) run on its DB-API connection from the
        start. ORM queries of the session run in the same transaction. On SQLite the transaction is begun
        and ended on the DB-API connection itself (SQLAlchemy's transaction bookkeeping cost more than the
        statements); an ORM query joins it (the `begin` listener issues no second BEGIN).
        """
        conn = self._take_reader()
        try:
            raw = conn.kehu_raw
            if raw is not None:
                conn.info[_RAW_READ] = True
                raw.execute("BEGIN")
            else:
                conn.begin()
            session = conn.kehu_session
            session.info[_DBAPI] = conn.connection.driver_connection if raw is None else raw
            try:
                yield session
            finally:
                # a joined transaction is left to its connection; the session is reused by the next read
                if session.in_transaction() or session.identity_map or session.new or session.deleted:
                    session.close()
                session.info.clear()
        finally:
            self._give_back(conn)

    def _take_reader(self) -> Connection:
        try:
            return self._idle_readers.pop()
        except IndexError:
            conn = self.engine.connect()
            conn.kehu_pool = self.engine.pool  # disposing the engine replaces its pool
            conn.kehu_session = self.sessions(bind=conn)  # one session per kept connection, emptied after each read
            # SQLite: read transactions begun and ended on the DB-API connection (see `reader`)
            conn.kehu_raw = conn.connection.driver_connection if self.dialect == "sqlite" else None
            return conn

    def _give_back(self, conn: Connection) -> None:
        """End the read transaction; keep the connection for the next read unless it broke or enough are idle."""
        try:
            if conn.in_transaction():  # begun by SQLAlchemy (PostgreSQL, or an ORM query joining a SQLite read)
                conn.rollback()
            if conn.kehu_raw is not None:
                conn.info.pop(_RAW_READ, None)
                if conn.kehu_raw.in_transaction:
                    conn.kehu_raw.rollback()
            keep = (not conn.invalidated and len(self._idle_readers) < self.MAX_IDLE_READERS
                    and conn.kehu_pool is self.engine.pool)  # a disposed engine's connections are not kept
        except Exception:  # a broken connection (e.g. the server went away): leave it to the pool to discard
            keep = False
        if keep:
            self._idle_readers.append(conn)
            return
        try:
            conn.close()
        except Exception:
            pass

    def _drop_readers(self) -> None:
        """Close the kept read connections for good (the engine was disposed: its old pool would keep them)."""
        while self._idle_readers:
            conn = self._idle_readers.pop()
            try:
                conn.invalidate()  # closes the DB-API connection; returning it to the disposed pool would not
                conn.close()
            except Exception:
                pass


class Prepared:
    """A statement compiled once for one dialect and run straight on the DB-API cursor (hot paths).

    It skips SQLAlchemy's per-execution work (statement cache lookup, execution context, result
    metadata) yet binds and returns what Core would: values pass the columns' bind and result
    processors (UTC datetimes, dates and decimals on SQLite), rows are named tuples. Literal values
    in the statement (e.g. a principal's scope) are bound at compile time; the rest by name.
    A SELECT is read with `all`/`first` (or `rows` on a DB-API connection); an INSERT/UPDATE is run
    with `execute` / `executemany` on a DB-API connection inside the caller's transaction.
    """

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect)
        binds = {name: b for b, name in compiled.bind_names.items()}
        # placeholders given at run time get a dummy value here; literal lists (IN …) are expanded now
        open_params = {name for name, b in binds.items() if b.required}
        state = compiled.construct_expanded_state({k: None for k in open_params})
        self.sql = state.statement
        self.order = state.positiontup if compiled.positional else None
        procs = {name: b.type.dialect_impl(dialect).bind_processor(dialect) for name, b in binds.items()}
        self.binds = {k: p for k, p in {**procs, **state.processors}.items() if p is not None}
        self.fixed = {k: (self.binds[k](v) if k in self.binds and v is not None else v)
                      for k, v in state.parameters.items() if k not in open_params}
        self.dialect = dialect
        selected = stmt.selected_columns if getattr(stmt, "is_select", False) else []
        self.types = [c.type for c in selected]
        self.procs: list | None = None  # known at the first execution (the driver's column types)
        self.row = namedtuple("Row", [c.key for c in selected]) if selected else None  # type: ignore[misc]

    def _args(self, values: dict):
        params = dict(self.fixed)
        for k, v in values.items():
            proc = self.binds.get(k)
            params[k] = proc(v) if proc is not None and v is not None else v
        return [params[k] for k in self.order] if self.order is not None else params

    def all(self, session: Session, **values) -> list:
        """Rows for these parameter values, in the session's transaction."""
        raw = session.info.get(_DBAPI)
        if raw is None:  # the session's connection, fixed until its transaction ends
            raw = session.info[_DBAPI] = session.connection().connection.driver_connection
        return self.rows(raw, **values)

    def rows(self, raw, **values) -> list:
        """Rows for these parameter values on a DB-API connection (in its current transaction)."""
        cur = raw.cursor()
        try:
            cur.execute(self.sql, self._args(values))
            raw = cur.fetchall()
            if self.procs is None:
                procs = [t._cached_result_processor(self.dialect, d[1]) for t, d in zip(self.types, cur.description)]
                self.procs = [(i, p) for i, p in enumerate(procs) if p is not None]
        finally:
            cur.close()
        if not self.procs:
            return [self.row._make(r) for r in raw]
        out = []
        for r in raw:
            r = list(r)
            for i, proc in self.procs:
                r[i] = proc(r[i])
            out.append(self.row._make(r))
        return out

    def first(self, session: Session, **values):
        """The first row, or None."""
        rows = self.all(session, **values)
        return rows[0] if rows else None

    def execute(self, raw, **values) -> int:
        """Run an INSERT/UPDATE once on a DB-API connection; the number of rows it changed."""
        cur = raw.cursor()
        try:
            cur.execute(self.sql, self._args(values))
            return cur.rowcount
        finally:
            cur.close()

    def executemany(self, raw, rows: list[dict]) -> None:
        """Run an INSERT/UPDATE for each of `rows` (one executemany) on a DB-API connection."""
        cur = raw.cursor()
        try:
            cur.executemany(self.sql, [self._args(r) for r in rows])
        finally:
            cur.close()


_PREPARED: dict = {}
_DBAPI = "kehu_dbapi_connection"
_RAW_READ = "kehu_raw_read"  # on a reader's connection: its read transaction was begun on the DB-API connection


def prepared(session: Session | Connection, key: Hashable, build: Callable[[], Any]) -> Prepared:
    """The statement `build()` compiled for the session's (or connection's) dialect, once per key (bounded cache)."""
    return prepared_for(session.dialect if isinstance(session, Connection) else session.get_bind().dialect, key, build)


def prepared_for(dialect, key: Hashable, build: Callable[[], Any]) -> Prepared:
    """The statement `build()` compiled for a dialect, once per key (bounded cache)."""
    entry = _PREPARED.get((dialect.name, key))
    if entry is None:
        if len(_PREPARED) > 4096:
            _PREPARED.clear()
        entry = _PREPARED[(dialect.name, key)] = Prepared(build(), dialect)
    return entry


def sqlite_begin_immediate_nowait(raw) -> bool:
    """On a SQLite DB-API connection: BEGIN IMMEDIATE if the write lock is free right now, else False (no wait)."""
    import sqlite3

    timeout = raw.execute("PRAGMA busy_timeout").fetchone()[0]
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:  # another connection holds the write lock
            return False
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(timeout)}")


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
