"""Creating and upgrading a store: migrations, built-in roles, the first administrator."""
from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from kehu.access import service as access
from kehu.catalog.models import SecurityEpoch
from kehu.db import Base, migration_connection
from kehu.runtime import Kehu

ROOT = Path(__file__).resolve().parents[2]


class UpgradeFailed(RuntimeError):
    """The upgrade did not reach a complete schema; nothing of it was committed."""


def alembic_config(url: str) -> Config:
    """Alembic configuration for a database URL (migrations shipped beside the package)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade a database to the newest schema, in one transaction, verified before it commits.

    The version is never advanced over missing tables: when the schema after the upgrade lacks a table,
    column, index or report trigger of the models, the whole upgrade rolls back. A store whose
    alembic_version is ahead of its tables (it ran revisions 0007–0017 while they were still published
    empty) is upgraded from the revision its schema really has: see `_repair_plan`.
    """
    url = engine.url.render_as_string(hide_password=False)
    try:
        _upgrade(url, [("upgrade", "head")])
    except Exception as failure:
        try:
            plan = _repair_plan(url)
        except Exception:  # noqa: BLE001  (the upgrade's own error is the one to report)
            plan = None
        if plan is None:
            raise failure
        _upgrade(url, plan)


def _upgrade(url: str, plan: list[tuple[str, str]]) -> None:
    with migration_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        applied: list[str] = []  # revisions whose upgrade() ran (stamps run none)
        cfg.attributes["on_version_apply"] = lambda *, step, **_kw: applied.append(step.up_revision_id)
        for step, revision in plan:
            (command.upgrade if step == "upgrade" else command.stamp)(cfg, revision)
        conn.info["kehu_schema_changed"] = bool(applied)
        # a revision may name the tables it rebuilt (`declare_rebuilt`): when every applied revision did, only
        # those tables' foreign keys are checked before the commit (a full check reads a 36 GB store for
        # over 15 minutes); one revision that did not → the whole store
        declared = conn.info.get("kehu_fk_declared", {})
        if applied and all(r in declared for r in applied):
            conn.info["kehu_fk_scope"] = sorted({t for r in applied for t in declared[r]})
        missing = sorted(expected_schema(conn.dialect.name) - schema_of(conn))
        if missing:
            raise UpgradeFailed(f"升级后数据库结构仍不完整（已回滚）：{'、'.join(missing[:20])}")


def declare_rebuilt(conn, revision: str, tables: list[str]) -> None:
    """Called by a revision's upgrade(): the tables whose rows it rewrote (the foreign-key check's scope)."""
    conn.info.setdefault("kehu_fk_declared", {})[revision] = list(tables)


def expected_schema(dialect: str) -> set[str]:
    """What the models declare: tables, columns, named indexes and the report triggers (see `schema_of`)."""
    import kehu.models  # noqa: F401  (every table)
    from kehu.reports import cubes  # the triggers of migration 0007

    out = {f"trigger {t.name}" for t in cubes.triggers(cubes.Dialect(dialect))}
    for table in Base.metadata.tables.values():
        out.add(f"table {table.name}")
        out |= {f"column {table.name}.{c.name}" for c in table.columns}
        out |= {f"index {ix.name}" for ix in table.indexes}
    return out


def schema_of(conn: Connection) -> set[str]:
    """What a database holds, in the terms of `expected_schema`."""
    insp = inspect(conn)
    out = {f"table {t}" for t in insp.get_table_names()}
    for (_schema, table), cols in insp.get_multi_columns().items():
        out |= {f"column {table}.{c['name']}" for c in cols}
    for (_schema, table), indexes in insp.get_multi_indexes().items():
        out |= {f"index {ix['name']}" for ix in indexes if ix["name"]}
    sql = ("SELECT name FROM sqlite_master WHERE type = 'trigger'" if conn.dialect.name == "sqlite"
           else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    return out | {f"trigger {name}" for (name,) in conn.exec_driver_sql(sql)}


def revision_schemas() -> list[tuple[str, set[str]]]:
    """Each revision, oldest first, with the schema it leaves (built on a scratch SQLite store)."""
    out: list[tuple[str, set[str]]] = []

    def record(*, ctx, step, heads, run_args) -> None:  # alembic's on_version_apply
        out.append((step.up_revision_id, schema_of(ctx.connection)))

    with tempfile.TemporaryDirectory(prefix="kehu-schema-") as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        with migration_connection(url) as conn:
            cfg = alembic_config(url)
            cfg.attributes.update(connection=conn, on_version_apply=record)
            command.upgrade(cfg, "head")
    return out


def _repair_plan(url: str) -> list[tuple[str, str]] | None:
    """Steps that bring a store stamped ahead of its schema to head; None when its stamp is true.

    The store really is at the newest revision (up to its stamp) whose whole schema it holds. From there
    each later revision runs — except one whose own additions (tables, columns, indexes, triggers) are all
    there already (it ran under an earlier version of its file): that one is only stamped.
    """
    with migration_connection(url) as conn:
        stamped = MigrationContext.configure(conn).get_current_revision()
        have = schema_of(conn)
    schemas = revision_schemas()
    revisions = [rev for rev, _ in schemas]
    if stamped not in revisions:
        return None
    upto = revisions.index(stamped) + 1
    at = next((i for i in reversed(range(upto)) if schemas[i][1] <= have), -1)  # where the store really is
    if at == upto - 1:
        return None
    plan = [("stamp", revisions[at] if at >= 0 else "base")]
    before = schemas[at][1] if at >= 0 else set()
    for rev, schema in schemas[at + 1:]:
        added = schema - before
        plan.append(("stamp" if added and added <= have else "upgrade", rev))
        before = schema
    return plan


def bootstrap(kehu: Kehu) -> None:
    """Built-in roles, their newly added default capabilities (audited) and the security epoch (idempotent)."""
    with kehu.db.transaction() as session:
        access.ensure_default_roles(session)
        if session.get(SecurityEpoch, 1) is None:
            session.add(SecurityEpoch(id=1, value=1))
        for role, added in access.sync_builtin_capabilities(session).items():
            kehu.audit.stage(session, action="admin.role.capabilities", actor_name="system", target_type="role",
                             target_id=role, detail={"added": added})


def optimize(engine: Engine) -> None:
    """Refresh planner statistics (SQLite `PRAGMA optimize`, PostgreSQL `ANALYZE`)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA optimize=0x10002" if engine.dialect.name == "sqlite" else "ANALYZE")
