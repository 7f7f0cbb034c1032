"""Alembic environment: the URL comes from the caller (kehu.setup) or KEHU_DATABASE_URL."""
from __future__ import annotations

from alembic import context

import kehu.models  # noqa: F401  (all tables)
from kehu.config import get_settings
from kehu.db import Base, migration_connection

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or get_settings().database_url
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # the `alembic` command line: one transaction too (kehu.setup.migrate passes its own connection)
    with migration_connection(url) as conn:
        _run(conn)


def _run(connection) -> None:
    # on_version_apply: kehu.setup reads the schema after each revision (a scratch store's fingerprints)
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      on_version_apply=config.attributes.get("on_version_apply", ()))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
