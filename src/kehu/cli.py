"""The `kehu` command: init, serve, demo, migrate; user/role/audit sub-commands from their domains."""
from __future__ import annotations

import os
import secrets

import typer
from rich.console import Console

from kehu import __version__
from kehu.config import get_settings

app = typer.Typer(help="Kehu 客户信息管理系统", no_args_is_help=True, add_completion=False)
console = Console()


def runtime():
    """The runtime from settings (keys from the key file or KEHU_KEYS)."""
    from kehu.runtime import Kehu

    return Kehu(get_settings())


@app.command()
def init(admin_password: str = typer.Option(None, help="create user `admin` with this password (else random)"),
         ) -> None:
    """Create the key file (0600) if missing, build or upgrade the database, create the built-in roles."""
    from kehu.db import Database
    from kehu.security.keyring import KeyRing
    from kehu.setup import bootstrap, migrate, optimize

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path = settings.resolved_key_file()
    if settings.keys is None and not path.exists():
        KeyRing.generate().write(path)
        console.print(f"已生成密钥文件 {path}（权限 0600）。请妥善备份，丢失后一级信息无法解密。")
    db = Database(settings.database_url)
    migrate(db.engine)
    from kehu.runtime import Kehu

    kehu = Kehu(settings, db=db)
    bootstrap(kehu)
    with kehu.db.transaction() as s:
        kehu.audit.stage(s, action="system.init", actor_name="cli", detail={"version": __version__})
    from kehu.access import repository
    from kehu.access import service as access

    with kehu.db.transaction() as s:
        if repository.user_by_name(s, "admin") is None:
            password = admin_password or secrets.token_urlsafe(12) + "-1a"
            access.create_user(s, None, username="admin", display_name="系统管理员", password=password,
                               role_code="admin")
            kehu.audit.stage(s, action="admin.user.create", actor_name="cli", detail={"username": "admin"})
            console.print(f"已创建系统管理员 admin，密码：{password}")
    optimize(db.engine)
    console.print(f"数据库已就绪：{_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest migration; give built-in roles new default capabilities."""
    from kehu.db import Database
    from kehu.runtime import Kehu
    from kehu.setup import bootstrap
    from kehu.setup import migrate as run

    settings = get_settings()
    db = Database(settings.database_url)
    run(db.engine)
    bootstrap(Kehu(settings, db=db))
    console.print("迁移完成")


@app.command()
def serve(host: str = typer.Option(None, help="listen address (default KEHU_HOST, 127.0.0.1)"),
          port: int = typer.Option(None, help="port (default KEHU_PORT, 8000)"),
          workers: int = typer.Option(1, help="uvicorn worker processes")) -> None:
    """Serve the web UI and the API."""
    import uvicorn

    from kehu.db import Database
    from kehu.setup import optimize

    settings = get_settings()
    optimize(Database(settings.database_url).engine)  # fresh planner statistics for a store that grew
    uvicorn.run("kehu.asgi:app", host=host or settings.host, port=port or settings.port, workers=workers,
                log_level="warning", access_log=False)


@app.command()
def demo(customers: int = typer.Option(3000, help="number of demo customers"),
         seed: int = typer.Option(20261122, help="random seed (same seed, same data)")) -> None:
    """Load the demo organisation, users and customers (only into an empty store)."""
    from kehu.demo import load_demo

    result = load_demo(runtime(), n=customers, seed=seed, console=console)
    if result is not None:
        console.print(result)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()


def _mount() -> None:
    from kehu.access.cli import app as user_app
    from kehu.access.cli import role_app
    from kehu.audit.cli import app as audit_app
    from kehu.pools.cli import app as pool_app

    app.add_typer(user_app, name="user")
    app.add_typer(role_app, name="role")
    app.add_typer(audit_app, name="audit")
    app.add_typer(pool_app, name="pool")
    import importlib

    from kehu.app import PACKAGES

    for pkg in PACKAGES:
        importlib.import_module(f"kehu.{pkg}.cli").register(app)


_mount()
