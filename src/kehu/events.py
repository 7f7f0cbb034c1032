"""Domain events (`order.created`, `payment.recorded`, …) published to in-process subscribers after commit.

Services `stage` events on their session; they are handed to subscribers only once the root
transaction has committed (never on rollback), after every other commit hook (the audit chain's
lock is released by then). Derived data that must commit atomically with its cause (a customer's
tags after an order) uses `before_commit` instead: its hook sees the staged events inside the root
transaction, before the audit chain is appended, and writes in the same commit. Events carry
references (ids, numbers, status), not customer values: a subscriber loads what it needs in a
session of its own. Subscribers must be idempotent (an
event may be delivered again by a future outbox) and their errors never undo the commit.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from kehu.db import utcnow
from kehu.kit.ids import new_id

log = logging.getLogger("kehu.events")
_STAGED = "kehu_events_staged"
_COMMITTED = "kehu_events_committed"


@dataclass(frozen=True)
class Event:
    """One domain event: a unique id (for idempotent subscribers), a name and a payload of references."""

    name: str
    payload: dict[str, Any]
    id: str = field(default_factory=new_id)
    at: datetime = field(default_factory=utcnow)


Subscriber = Callable[[Event], None]
_subscribers: dict[str, list[Subscriber]] = {}


def subscribe(name: str, fn: Subscriber) -> None:
    """Call `fn(event)` for every committed event named `name` ("*" for all); registering twice is a no-op."""
    fns = _subscribers.setdefault(name, [])
    if fn not in fns:
        fns.append(fn)


def unsubscribe(name: str, fn: Subscriber) -> None:
    """Stop calling `fn` for `name`."""
    if fn in _subscribers.get(name, []):
        _subscribers[name].remove(fn)


def stage(session: Session, name: str, **payload: Any) -> None:
    """Queue an event to be published when this session's transaction commits."""
    session.info.setdefault(_STAGED, []).append(Event(name=name, payload=payload))


def publish(evt: Event) -> None:
    """Deliver one event to its subscribers now (errors are logged, never raised)."""
    for fn in list(_subscribers.get(evt.name, [])) + list(_subscribers.get("*", [])):
        try:
            fn(evt)
        except Exception:  # a subscriber must not break the committed operation
            log.exception("event subscriber failed: %s", evt.name)


InTransaction = Callable[[Session, list[Event]], None]


def before_commit(factory, fn: InTransaction) -> None:
    """Call `fn(session, staged events)` in every root transaction of `factory` that staged events, just
    before it commits and before the audit chain's own hook; registering twice is a no-op.

    `fn` runs in the caller's transaction: what it writes commits with the cause, and an error it
    raises rolls the whole unit of work back — so a hook that must not block its cause guards itself
    (a savepoint, and a log line on failure).
    """
    fns = getattr(factory, "_kehu_before_commit", None)
    if fns is None:
        fns = []
        factory._kehu_before_commit = fns

        def hook(session: Session) -> None:
            if session.in_nested_transaction():
                return
            staged = session.info.get(_STAGED)
            if staged:
                for f in list(fns):
                    f(session, list(staged))
        event.listen(factory, "before_commit", hook, insert=True)
    if fn not in fns:
        fns.append(fn)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer transaction may still roll back
        return
    staged = session.info.pop(_STAGED, None)
    if staged:
        session.info.setdefault(_COMMITTED, []).extend(staged)


def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_STAGED, None)


def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(_STAGED, None)  # ended without a commit (closed): never published
    for evt in session.info.pop(_COMMITTED, None) or []:
        publish(evt)


if not event.contains(Session, "after_commit", _after_commit):
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
