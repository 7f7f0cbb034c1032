"""Test fixtures: every test runs on SQLite and on PostgreSQL, on a database built by the migrations."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from kehu.config import Settings
from kehu.db import Database
from kehu.runtime import Kehu
from kehu.security.keyring import KeyRing
from kehu.setup import bootstrap, migrate
from tests.fixtures.browser import browser, context, login, other_page, page, server, shot  # noqa: F401  (one set, suite-wide)
from tests.fixtures.world import World, make_world

# no scheduled full tag evaluation in the servers tests start (a never-evaluated store is due at once);
# tests/tags/test_schedule.py runs it on purpose
os.environ["KEHU_TAG_SCHEDULE"] = "0"
ENGINES = [e for e in os.environ.get("KEHU_TEST_ENGINES", "sqlite,postgresql").split(",") if e]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    from kehu.ops.snapshot import OpsFailed, pg_bin

    try:
        return pg_bin(name)
    except OpsFailed:
        raise RuntimeError(f"PostgreSQL binary {name} not found: run `make test` (it installs postgresql)") from None


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """argon2id with minimal cost in tests (production parameters are argon2-cffi's defaults)."""
    from argon2 import PasswordHasher

    from kehu.security import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


@pytest.fixture(scope="session")
def fast_tmp(tmp_path_factory) -> Path:
    """Scratch space in memory when available: SQLite's fsyncs cost nothing there."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        base = Path(tempfile.mkdtemp(prefix="kehu-test-", dir=shm))
        yield base
        shutil.rmtree(base, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("fast")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A throw-away PostgreSQL cluster on 127.0.0.1 (C collation, UTF-8)."""
    if "postgresql" not in ENGINES:
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="kehu-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if run_as:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(run_as + [_pg_bin("initdb"), "-D", str(data), "-U", "kehu", "--auth=trust", "-E", "UTF8",
                             "--locale=C", "--no-sync"], check=True, capture_output=True)
    port = _free_port()
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off -c synchronous_commit=off " \
           f"-c full_page_writes=off -c max_connections=200"
    subprocess.run(run_as + [_pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w",
                             "start"], check=True, capture_output=True)
    url = f"postgresql+psycopg://kehu@127.0.0.1:{port}/postgres"
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("CREATE DATABASE kehu_template"))
    eng.dispose()
    tpl = create_engine(url.replace("/postgres", "/kehu_template"))
    migrate(tpl)
    tpl.dispose()
    yield url
    subprocess.run(run_as + [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file built by the migrations, copied for each test."""
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    eng = create_engine(f"sqlite:///{path}")
    migrate(eng)
    eng.dispose()
    return path


@pytest.fixture(params=ENGINES)
def db_url(request, fast_tmp, sqlite_template):
    """A fresh, migrated database on each engine."""
    if request.param == "sqlite":
        target = fast_tmp / f"{uuid.uuid4().hex}.db"
        shutil.copy(sqlite_template, target)
        yield f"sqlite:///{target}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        return
    with pg_database(request.getfixturevalue("pg_server"), template="kehu_template") as url:
        yield url


@contextmanager
def pg_database(cluster: str, *, template: str | None = None) -> Iterator[str]:
    """A throw-away database on the test cluster (URL of its `postgres` database), a copy of `template` when given."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(cluster, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")))
    try:
        yield cluster.replace("/postgres", f"/{name}")
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def keys() -> KeyRing:
    """Fresh key material for one test."""
    return KeyRing.generate()


@pytest.fixture
def kehu(db_url, keys, tmp_path) -> Kehu:
    """The runtime over a fresh store with built-in roles."""
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var")
    k = Kehu(settings, keys=keys, db=Database(db_url))
    bootstrap(k)
    yield k
    k.db.engine.dispose()


@pytest.fixture
def world(kehu) -> World:
    """Departments and one user per default role (plus extra staff), with passwords."""
    return make_world(kehu)


@pytest.fixture
def client(kehu):
    """An HTTP client of the app (no server process)."""
    from fastapi.testclient import TestClient

    from kehu.app import create_app

    with TestClient(create_app(kehu)) as c:
        yield c


@pytest.fixture
def api(client, world):
    """`api(user)` → headers with a bearer token for that world user."""
    tokens: dict[str, dict] = {}

    def headers(user: str) -> dict:
        if user not in tokens:
            r = client.post("/api/v1/auth/token", json={"username": user, "password": world.password})
            assert r.status_code == 200, r.text
            tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return tokens[user]

    return headers
