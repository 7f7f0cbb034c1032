"""kehu.events: staged on the session, published once the root transaction commits, dropped otherwise."""
from __future__ import annotations

import pytest

from kehu import events


@pytest.fixture
def seen():
    got: list[events.Event] = []
    events.subscribe("test.thing", got.append)
    yield got
    events.unsubscribe("test.thing", got.append)


def test_savepoints_do_not_publish_early(kehu, seen):
    with kehu.db.transaction() as s:
        events.stage(s, "test.thing", n=1)
        with s.begin_nested():
            events.stage(s, "test.thing", n=2)
        assert seen == []
    assert [e.payload["n"] for e in seen] == [1, 2]


def test_rollback_and_close_drop_staged_events(kehu, seen):
    with pytest.raises(ZeroDivisionError), kehu.db.transaction() as s:
        events.stage(s, "test.thing", n=1)
        1 / 0
    session = kehu.db.sessions()
    session.connection()
    events.stage(session, "test.thing", n=2)
    session.close()
    with kehu.db.transaction() as s:
        events.stage(s, "test.thing", n=3)
    assert [e.payload["n"] for e in seen] == [3]


def test_subscribing_twice_delivers_once_and_wildcard_sees_all(kehu, seen):
    events.subscribe("test.thing", seen.append)
    everything: list[events.Event] = []
    events.subscribe("*", everything.append)
    try:
        with kehu.db.transaction() as s:
            events.stage(s, "test.thing", n=1)
            events.stage(s, "test.other", n=2)
    finally:
        events.unsubscribe("*", everything.append)
    assert len(seen) == 1 and [e.name for e in everything] == ["test.thing", "test.other"]
