"""Time-ordered random identifiers (ULID-like, 32 hex chars) generated before insert."""
from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, counter within it


def new_id() -> str:
    """A 128-bit id: 48-bit millisecond timestamp, 16-bit sequence within the millisecond, 64 random bits.

    Generated in Python so that the id can be bound into encryption associated data before the row
    is written; ordered by creation within a process (also within one millisecond, which bulk
    writes reach), so keyset pagination, "newest first" and B-tree inserts follow creation order.
    """
    now = int(time.time() * 1000)
    with _lock:
        if now <= _last[0]:
            now = _last[0]
            _last[1] += 1
            if _last[1] > 0xFFFF:  # more than 65,536 ids in one millisecond: borrow the next one
                now, _last[1] = now + 1, 0
        else:
            _last[1] = 0
        _last[0] = now
        seq = _last[1]
    return f"{now:012x}{seq:04x}{os.urandom(8).hex()}"
