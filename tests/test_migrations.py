"""The Alembic migrations build exactly the schema the models declare, on both engines."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sqlalchemy import String

import kehu.models  # noqa: F401
from kehu.db import Base


def _compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type):
    """Alembic's comparison, except that SQLite VARCHAR lengths are not compared (SQLite does not enforce them)."""
    if context.dialect.name == "sqlite" and isinstance(metadata_type, String) and isinstance(inspected_type, String):
        return False
    return None  # the default comparison


def schema_diff(conn) -> list:
    """What `alembic check` would report: the differences between the models and a database."""
    ctx = MigrationContext.configure(conn, opts={"compare_type": _compare_type})
    return compare_metadata(ctx, Base.metadata)


def test_models_match_migrations(kehu):
    with kehu.db.engine.connect() as conn:
        diff = schema_diff(conn)
    assert diff == [], diff


def test_no_revision_is_an_empty_placeholder():
    """A revision published empty and filled in later never runs in the stores that passed it meanwhile
    (0007–0017 once were): every upgrade() must do something."""
    import ast
    from pathlib import Path

    empty = []
    for path in sorted((Path(__file__).parents[1] / "migrations" / "versions").glob("*.py")):
        fn = next(n for n in ast.parse(path.read_text(encoding="utf-8")).body
                  if isinstance(n, ast.FunctionDef) and n.name == "upgrade")
        body = [n for n in fn.body if not isinstance(n, ast.Pass)
                and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        if not body:
            empty.append(path.name)
    assert empty == []


def test_sqlite_tables_are_stored_as_the_models_declare(kehu):
    """`sqlite_with_rowid=False` in a model is a WITHOUT ROWID table in the migrated store (alembic's comparison
    does not look at it), and no other table is one."""
    if kehu.db.dialect != "sqlite":
        return
    with kehu.db.engine.connect() as conn:
        stored = {name: sql.rstrip().upper().endswith("WITHOUT ROWID") for name, sql in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL")}
    declared = {t.name: not t.dialect_options["sqlite"]["with_rowid"] for t in Base.metadata.tables.values()}
    assert {"customer_tags", "customer_grades"} <= {t for t, no_rowid in declared.items() if no_rowid}
    assert {t: stored.get(t) for t in declared} == declared
