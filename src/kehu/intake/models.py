"""Tables of `kehu.intake`."""
from __future__ import annotations

__all__: list[str] = []
