"""Tables of `kehu.exports`."""
from __future__ import annotations

__all__: list[str] = []
