"""The Principal: who is calling, with what role, scope and grants — resolved once per request."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the policy sees them."""

    user_id: str
    username: str
    display_name: str
    role_code: str
    role_name: str
    scope: str  # own | department | all
    department_id: str | None
    department_ids: frozenset[str] = field(default_factory=frozenset)  # own department and below
    capabilities: frozenset[str] = field(default_factory=frozenset)
    grants: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    importance: frozenset[str] = frozenset({"normal", "core", "key"})  # customer classes visible at all

    def can(self, action: str, level: int) -> bool:
        """Holds the grant for this action at this level."""
        return (action, level) in self.grants

    def has(self, capability: str) -> bool:
        """Holds a non-data capability (manage_users, read_audit, …)."""
        return capability in self.capabilities

    @property
    def sees_customers(self) -> bool:
        """Any view grant at all: without one, no customer exists for this principal."""
        return any(a == "view" for a, _ in self.grants)
