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


def test_models_match_migrations(kehu):
    with kehu.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": _compare_type})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff
