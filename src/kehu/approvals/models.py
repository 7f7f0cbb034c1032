"""Tables of `kehu.approvals`."""
from __future__ import annotations

__all__: list[str] = []
