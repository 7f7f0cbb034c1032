"""A consistent copy of the store for a backup, with the wrapped data keys taken out.

SQLite: the online backup API copies the live file (readers and writers go on), then the copy's
`customers.dek` are replaced by `NO_KEY` with `secure_delete` on and the file is vacuumed, so no
wrapped key survives in its pages. PostgreSQL: one REPEATABLE READ transaction exports its
snapshot; `pg_dump -Fc --snapshot` dumps everything but the rows of `customers`, which are
copied (with `dek` replaced) inside the same snapshot. The keys, counts, audit head and Alembic
revision are read from the very same state.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL, Engine, make_url

from kehu.errors import KehuError
from kehu.security.crypto import NO_KEY


class OpsFailed(KehuError):
    """A backup or restore step failed."""

    status = 500
    code = "ops_failed"
    message = "备份/恢复失败"


@dataclass
class Snapshot:
    """What a backup holds: payload files, the wrapped keys taken out, and the manifest facts."""

    files: list[Path]
    keys: list[tuple[str, bytes]]
    counts: dict[str, int]
    audit_head: dict | None
    revision: str | None
    extra: dict = field(default_factory=dict)


def pg_bin(name: str) -> str:
    """A PostgreSQL client binary from PATH or the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    raise OpsFailed(f"找不到 PostgreSQL 程序 {name}（请安装 postgresql-client）")


def pg_args(url: URL) -> tuple[list[str], dict]:
    """libpq connection arguments and environment (password in PGPASSWORD, never on the command line)."""
    args = ["--dbname", url.database or "postgres"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def run(cmd: list[str], env: dict | None = None) -> None:
    """Run a client program; its stderr becomes the error message."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise OpsFailed(f"{Path(cmd[0]).name} 失败：{proc.stderr.strip()[-800:]}")


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL."""
    db = make_url(url).database
    if not db or db == ":memory:":
        raise OpsFailed("内存数据库无法备份")
    return Path(db)


def _facts(cur, tables: list[str], quote) -> tuple[dict[str, int], dict | None, str | None]:
    counts = {}
    for t in sorted(tables):
        cur.execute(f"SELECT count(*) FROM {quote(t)}")
        counts[t] = cur.fetchone()[0]
    head = None
    if "audit_head" in tables:
        cur.execute("SELECT seq, mac FROM audit_head WHERE id = 1")
        row = cur.fetchone()
        head = {"seq": row[0], "mac": row[1]} if row else None
    revision = None
    if "alembic_version" in tables:
        cur.execute("SELECT version_num FROM alembic_version")
        row = cur.fetchone()
        revision = row[0] if row else None
    return counts, head, revision


def take_sqlite(url: str, workdir: Path) -> Snapshot:
    """Online copy of a SQLite store, wrapped keys removed from the copy's pages."""
    src_path = sqlite_path(url)
    if not src_path.exists():
        raise OpsFailed(f"数据库文件不存在：{src_path}")
    out = workdir / "database.sqlite"
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst)  # one step: a consistent snapshot even while the server writes
    finally:
        src.close()
    try:
        dst.isolation_level = None
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("PRAGMA secure_delete=ON")
        cur = dst.cursor()
        tables = [r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%'")]
        counts, head, revision = _facts(cur, tables, lambda t: f'"{t}"')
        keys = [(r[0], bytes(r[1])) for r in cur.execute("SELECT id, dek FROM customers")] \
            if "customers" in tables else []
        if keys:
            cur.execute("UPDATE customers SET dek = ?", (NO_KEY,))
        dst.execute("VACUUM")
    finally:
        dst.close()
    return Snapshot([out], keys, counts, head, revision)


def take_postgresql(engine: Engine, workdir: Path) -> Snapshot:
    """pg_dump of one exported snapshot, customers' rows copied separately without their wrapped keys."""
    url = engine.url
    dump, rows = workdir / "database.pgdump", workdir / "customers.copy"
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snap = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            args, env = pg_args(url)
            run([pg_bin("pg_dump"), "--format=custom", f"--snapshot={snap}", "--no-owner", "--no-privileges",
                 "--exclude-table-data=public.customers", "--file", str(dump), *args], env)
            tables = inspect(conn).get_table_names()
            columns = [c["name"] for c in inspect(conn).get_columns("customers")]
            select = ", ".join(f"'\\x{NO_KEY.hex()}'::bytea" if c == "dek" else f'"{c}"' for c in columns)
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, open(rows, "wb") as fh:
                with cur.copy(f"COPY (SELECT {select} FROM customers ORDER BY id) TO STDOUT") as copy:
                    for data in copy:
                        fh.write(data)
                counts, head, revision = _facts(cur, tables, lambda t: f'"{t}"')
                cur.execute("SELECT id, dek FROM customers")
                keys = [(r[0], bytes(r[1])) for r in cur]
    return Snapshot([dump, rows], keys, counts, head, revision, extra={"customers_columns": columns})
