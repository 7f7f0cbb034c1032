"""The Alembic migrations build exactly the schema the models declare, on both engines."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import kehu.models  # noqa: F401
from kehu.db import Base


def test_models_match_migrations(kehu):
    with kehu.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff
