"""Time-ordered random identifiers (ULID-like, 32 hex chars) generated before insert."""
from __future__ import annotations

import os
import time


def new_id() -> str:
    """A 128-bit id: 48-bit millisecond timestamp then 80 random bits, as hex.

    Generated in Python so that the id can be bound into encryption associated data
    before the row is written; time-ordered so keyset pagination and B-tree inserts stay local.
    """
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"
