"""Helpers for Kehu's background threads (the audit writer, the alarm scanner)."""
from __future__ import annotations

import os


def batch_scheduling() -> None:
    """Mark the calling thread as a batch thread for the OS scheduler (Linux `SCHED_BATCH`; elsewhere nothing).

    A batch thread gets the same share of the CPU but does not preempt the running thread when it is woken.
    Woken by the event loop (the audit writer: a batch was handed over) its first need is the GIL, which the
    waking loop holds: preempting the loop only stalls both. It runs when a core is free or at the next tick.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))  # 0: the calling thread
    except (AttributeError, OSError):  # not Linux, or refused: the default policy is fine
        pass
