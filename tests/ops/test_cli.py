"""The `kehu backup / restore / keys` commands end to end, and the server's start-up hook."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kehu.cli import app
from kehu.config import get_settings
from tests.ops.conftest import populate


@pytest.fixture
def cli_env(kehu, key_file, db_url, monkeypatch):
    """Settings of the CLI pointing at the test store and its key file."""
    monkeypatch.setenv("KEHU_DATABASE_URL", db_url)
    monkeypatch.setenv("KEHU_VAR_DIR", str(kehu.settings.var_dir))
    monkeypatch.delenv("KEHU_KEYS", raising=False)
    get_settings.cache_clear()
    yield kehu.settings.var_dir
    get_settings.cache_clear()


def _run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_backup_verify_restore_and_rotate_from_the_command_line(kehu, world, cli_env, fresh_url, tmp_path):
    populate(kehu, world, individuals=2, organisations=1)
    out = tmp_path / "b"
    r = _run("backup", "--to", str(out))
    assert r.exit_code == 0, r.output
    data = next(out.glob("*.kbak"))
    r = _run("backup", "verify", str(data))
    assert r.exit_code == 0 and '"customers": 3' in r.output
    args = ["--to", str(tmp_path / "restored")] if fresh_url.startswith("sqlite") else ["--database-url", fresh_url]
    r = _run("restore", str(data), *args)
    assert r.exit_code == 0 and "审计链完整" in r.output, r.output
    r = _run("restore", str(data), *args)
    assert r.exit_code == 1 and "--force" in r.output
    r = _run("keys", "rotate", "--master", "--grace", "0")
    assert r.exit_code == 0 and "m2" in r.output, r.output
    r = _run("keys", "retire", "m1")  # the newest escrow wraps with m1 — but it is in another directory
    assert r.exit_code == 0, r.output
    r = _run("keys", "status")
    assert r.exit_code == 0 and "m1" not in r.output.split("已销毁")[0] and "m2" in r.output
    raw = bytearray(data.read_bytes())
    raw[200] ^= 1
    data.write_bytes(bytes(raw))
    assert _run("backup", "verify", str(data)).exit_code == 1


def test_the_server_follows_its_key_file(kehu, key_file):
    from kehu.app import create_app

    create_app(kehu)
    assert kehu.crypto._watch is not None and kehu.crypto._watch.path == key_file
