"""Real-time tags: after a commit that changed a customer's data or transactions, re-evaluate that customer.

`kehu.events` publishes after the root transaction commits, synchronously, in the thread that ran the
request — before `run_as` returns and so before the response is sent. The subscriber evaluates the one
customer in a transaction of its own; the tags and grade are therefore current when the request that
caused the change answers ("same request"). A failure is logged and the next event or the scheduled
full evaluation repairs it; the evaluation is idempotent (it diffs against the stored tags).
"""
from __future__ import annotations

import logging

from kehu import events
from kehu.runtime import Kehu

log = logging.getLogger("kehu.tags")
#: event name prefixes that change what rules read (customer fields or records held under a customer)
PREFIXES = ("customer.", "order.", "payment.", "followup.", "communication.", "complaint.", "survey.", "lead.")
_runtime: dict[str, Kehu] = {}


def on_event(evt: events.Event) -> None:
    """Re-evaluate the customer of a committed event (no-op for other events)."""
    kehu = _runtime.get("kehu")
    cid = evt.payload.get("customer_id")
    if kehu is None or not cid or not evt.name.startswith(PREFIXES):
        return
    from kehu.tags import engine
    from kehu.tags.service import today

    with kehu.db.transaction() as session:
        engine.evaluate_customers(session, kehu.catalog(session), [cid], as_of=today(), trigger=evt.name[:40])


def install(kehu: Kehu) -> None:
    """Subscribe the real-time evaluation on this runtime (one per process; idempotent)."""
    _runtime["kehu"] = kehu
    events.subscribe("*", on_event)
