"""Per-address rate limit of the public collection form: a sliding window kept in this process's memory.

Enough for one server process (Kehu's deployment); several processes behind a balancer each count
their own share — put the limit at the proxy too in that case (docs/consent.md).
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from weakref import WeakKeyDictionary

from kehu.errors import KehuError


class RateLimited(KehuError):
    """Too many submissions from one address."""

    status = 429
    code = "rate_limited"
    message = "提交过于频繁，请稍后再试"


class SlidingWindow:
    """At most `limit` events per `window` seconds per key."""

    def __init__(self, limit: int, window: float, *, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one event for the key, or raise RateLimited (with the seconds to wait) when over the limit."""
        now = self.clock()
        with self._lock:
            if len(self._events) > 100_000:  # forget idle addresses rather than grow without bound
                self._events = {k: q for k, q in self._events.items() if q and q[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                wait = max(1, math.ceil(events[0] + self.window - now))
                raise RateLimited(f"提交过于频繁，请{wait}秒后再试")
            events.append(now)


_limiters: WeakKeyDictionary = WeakKeyDictionary()


def limiter_of(kehu) -> SlidingWindow:
    """The public form's limiter of this runtime (limit and window from the settings)."""
    found = _limiters.get(kehu)
    if found is None:
        settings = kehu.settings
        found = _limiters[kehu] = SlidingWindow(settings.intake_rate_limit, settings.intake_rate_window)
    return found
