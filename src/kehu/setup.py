"""Creating and upgrading a store: migrations, built-in roles, the first administrator."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from kehu.access import service as access
from kehu.catalog.models import SecurityEpoch
from kehu.runtime import Kehu

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    """Alembic configuration for a database URL (migrations shipped beside the package)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade a database to the newest schema."""
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def bootstrap(kehu: Kehu) -> None:
    """Built-in roles and the security epoch (idempotent)."""
    with kehu.db.transaction() as session:
        access.ensure_default_roles(session)
        if session.get(SecurityEpoch, 1) is None:
            session.add(SecurityEpoch(id=1, value=1))


def optimize(engine: Engine) -> None:
    """Refresh planner statistics (SQLite `PRAGMA optimize`, PostgreSQL `ANALYZE`)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA optimize=0x10002" if engine.dialect.name == "sqlite" else "ANALYZE")
