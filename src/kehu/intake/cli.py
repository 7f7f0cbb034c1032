"""Commands of `kehu.intake`, added to the `kehu` CLI by `register`."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands (or sub-apps) to the main CLI."""
