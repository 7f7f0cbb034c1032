"""Tables of `kehu.consent`."""
from __future__ import annotations

__all__: list[str] = []
