"""The registry of operations that need a second person's approval.

An operation's package registers its kind once, at import (`register(Kind(...))`); a request of an
unregistered kind is refused. The capability is copied onto each request, so a decision never
depends on which packages happen to be imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Kind:
    """One kind of approvable operation."""

    code: str  # "export.level1", "share", "destroy"
    label: str  # Chinese name shown in queues
    capability: str  # an approver must hold it (e.g. "approve_export")
    decide_within: timedelta = timedelta(days=7)  # a pending request expires after this
    use_within: timedelta = timedelta(hours=24)  # an approval must be used within this after the decision
    page: str | None = None  # the operation's page of its record, "{subject_id}" filled in ("/exports/{subject_id}")


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Declare an approvable operation (idempotent for the same declaration)."""
    known = KINDS.get(kind.code)
    if known is not None and known != kind:
        raise ValueError(f"approval kind {kind.code} registered twice with different settings")
    KINDS[kind.code] = kind
    return kind


def label(code: str) -> str:
    """The Chinese name of a kind (its code when not registered in this process)."""
    return KINDS[code].label if code in KINDS else code
