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
