"""Configuration and CLI are documented: adding either without docs fails here."""
from __future__ import annotations

from pathlib import Path

from kehu.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f"KEHU_{name.upper()}" for name in Settings.model_fields if f"KEHU_{name.upper()}" not in doc]
    assert not missing, missing


def test_every_command_documented():
    import typer.main

    from kehu.cli import app

    doc = (ROOT / "docs" / "cli.md").read_text()
    group = typer.main.get_group(app)
    missing = []
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        for full in ([f"kehu {name} {s}" for s in subs] if subs else [f"kehu {name}"]):
            if f"`{full}" not in doc:
                missing.append(full)
    assert not missing, missing


def test_readme_has_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
