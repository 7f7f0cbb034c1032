"""Helpers shared by the pool, lead and 今日待办 tests."""
from __future__ import annotations

from sqlalchemy import select

from kehu.access.models import Role
from kehu.runtime import Kehu


def give_capability(kehu: Kehu, role_code: str, capability: str) -> None:
    """Add a capability to a role (as an administrator would) and invalidate cached principals."""
    with kehu.db.transaction() as s:
        role = s.execute(select(Role).where(Role.code == role_code)).scalar_one()
        role.capabilities = ",".join(sorted(role.capability_set | {capability}))
        Kehu.bump_epoch(s)
