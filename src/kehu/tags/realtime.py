"""Real-time tags: a unit of work that changed a customer's data or transactions re-evaluates that
customer's tags and grade in the same transaction, just before it commits.

The hook (`kehu.events.before_commit`) sees the events the services staged (`order.updated`,
`customer.updated`, …), evaluates each named customer once, and writes the tag changes, their
history and the grade with the cause — one commit, so the tags are never behind the data they are
derived from, and the request that caused the change answers with them current. It runs inside a
savepoint: a failing evaluation is rolled back alone and logged, never undoing the order or archive
change; the scheduled full evaluation repairs it (evaluation diffs against the stored tags, so it is
idempotent).
"""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from kehu import events
from kehu.runtime import Kehu

log = logging.getLogger("kehu.tags")
#: event name prefixes that change what rules read (customer fields or records held under a customer)
PREFIXES = ("customer.", "order.", "payment.", "followup.", "communication.", "complaint.", "survey.", "lead.")


def customers_of(staged: list[events.Event]) -> dict[str, str]:
    """Customer id → the first event naming it, in staging order (each customer is evaluated once)."""
    out: dict[str, str] = {}
    for evt in staged:
        cid = evt.payload.get("customer_id")
        if cid and evt.name.startswith(PREFIXES) and cid not in out:
            out[cid] = evt.name
    return out


def evaluate_in(kehu: Kehu, session: Session, staged: list[events.Event]) -> None:
    """Re-evaluate the customers of the staged events inside the session's transaction (savepoint)."""
    todo = customers_of(staged)
    if not todo:
        return
    from kehu.tags import engine
    from kehu.tags.service import today

    session.flush()  # the hook runs before the commit's own flush: the evaluation reads with Core
    catalog, as_of = kehu.catalog(session), today()
    for cid, name in todo.items():
        try:
            with session.begin_nested():
                engine.evaluate_customers(session, catalog, [cid], as_of=as_of, trigger=name[:40])
        except Exception:  # derived data must not block its cause: the full evaluation repairs it
            log.exception("real-time tag evaluation failed for customer %s (%s)", cid, name)


def install(kehu: Kehu) -> None:
    """Evaluate tags in every unit of work of this runtime's sessions (idempotent)."""
    events.before_commit(kehu.db.sessions, kehu.__dict__.setdefault("_tags_hook",
                                                                    lambda s, staged: evaluate_in(kehu, s, staged)))
