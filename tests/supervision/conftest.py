"""Fixtures of the supervision tests: a settable audit clock and helpers to script access patterns."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from kehu.supervision.scan import scan
from tests.fixtures.world import create_customer

BEIJING = timezone(timedelta(hours=8))


def next_weekday_at(hour: int, minute: int = 0, *, weekday: int = 2) -> datetime:
    """The next given weekday (0 = Monday) at hh:mm Beijing time, as UTC (within a week of now)."""
    now = datetime.now(BEIJING)
    day = now.date() + timedelta(days=(weekday - now.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING).astimezone(timezone.utc)


@dataclass
class Clock:
    """The audit chain's time source; tests move it instead of sleeping."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        """Jump to a moment."""
        self.now = moment

    def advance(self, **delta) -> None:
        """Move forward."""
        self.now += timedelta(**delta)


@pytest.fixture
def clock(kehu) -> Clock:
    """Audit timestamps at a Wednesday 10:00 Beijing time (working hours) unless moved."""
    c = Clock(next_weekday_at(10))
    kehu.audit.clock = c
    return c


@pytest.fixture
def scanned(kehu):
    """`scanned()` runs a scan now and returns its result."""
    return lambda **kw: scan(kehu, **kw)


@pytest.fixture
def customers(kehu, world, clock):
    """Five customers owned by alice (staff, may see level 1 masked, no level-1 reveal) and the head's scope."""
    return [create_customer(kehu, as_user=world.ctx("alice")) for _ in range(5)]


def set_rule(client, api, code: str, **settings) -> dict:
    """Change a rule as the auditor through the API."""
    rules = {r["code"]: r for r in client.get("/api/v1/alarm-rules", headers=api("auditor")).json()["items"]}
    body = {k: rules[code][k] for k in ("enabled", "limit", "window_minutes", "lock")} | settings
    if code == "off_hours" and "params" not in body:
        body["params"] = rules[code]["params"]
    r = client.put(f"/api/v1/alarm-rules/{code}", json=body, headers=api("auditor"))
    assert r.status_code == 200, r.text
    return r.json()


def alerts(client, api, **query) -> list[dict]:
    """Alerts as the auditor sees them."""
    r = client.get("/api/v1/alerts", params=query, headers=api("auditor"))
    assert r.status_code == 200, r.text
    return r.json()["items"]
