"""Appending to the chain: the head this process last wrote is only a hint, checked in the write transaction."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import text

from kehu.audit.chain import AuditChain, canonical, verify


def _entry(chain: AuditChain, n: int, **kw) -> dict:
    return chain.entry(action="test.append", actor_name="测试员", fields=["customer.mobile", "customer.name"],
                       detail={"n": n, "说明": "中文"}, ip="127.0.0.1", **kw)


def _append(kehu, chain: AuditChain, entries: list[dict], *, commit: bool = True) -> None:
    """Append in a write transaction of its own, as every path does (write lock, then the chain lock)."""
    pooled = kehu.db.engine.raw_connection()
    raw = pooled.driver_connection
    sqlite = kehu.db.dialect == "sqlite"
    try:
        if sqlite:
            raw.execute("BEGIN IMMEDIATE")
        with chain._lock:
            chain.append_raw(raw, kehu.db.engine.dialect, entries)
            if commit:
                raw.commit() if not sqlite else raw.execute("COMMIT")
            else:
                raw.rollback() if not sqlite else raw.execute("ROLLBACK")
    finally:
        pooled.close()


def _log(kehu) -> list[dict]:
    with kehu.db.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(text("SELECT * FROM audit_log ORDER BY seq"))]


def _ok(kehu) -> bool:
    with kehu.db.reader() as s:
        result = verify(s, kehu.audit)
    assert result.ok, result.problem
    return True


def test_entries_are_chained_in_order_with_the_canonical_macs(kehu):
    chain = kehu.audit
    _append(kehu, chain, [_entry(chain, 0)])
    _append(kehu, chain, [_entry(chain, i, target_id=f"t{i}") for i in range(1, 101)])  # 64 + 32 + 4 rows
    rows = _log(kehu)
    assert [r["seq"] for r in rows] == list(range(1, 102))
    assert [json.loads(r["detail"])["n"] for r in rows] == list(range(101))
    for prev, row in zip(rows, rows[1:]):
        assert row["prev_mac"] == prev["mac"]
    ts = datetime.fromisoformat(str(rows[-1]["ts"])).replace(tzinfo=timezone.utc)
    as_written = dict(rows[-1], ts=ts)  # the bytes the MAC covers: those of `canonical`, whatever the path
    assert chain.mac(rows[-1]["prev_mac"], as_written) == rows[-1]["mac"]
    assert canonical(as_written).decode().startswith(f'[{rows[-1]["seq"]},"{ts.isoformat()}"')
    assert _ok(kehu)


def test_a_head_moved_by_another_process_is_read_again(kehu):
    mine = kehu.audit
    _append(kehu, mine, [_entry(mine, 1)])  # this process now remembers the head
    other = AuditChain(kehu.keys.audit)  # e.g. a CLI command appending meanwhile, with its own memory
    _append(kehu, other, [_entry(other, 2), _entry(other, 3)])
    _append(kehu, mine, [_entry(mine, 4)])  # its remembered head is stale: it reads the head again
    rows = _log(kehu)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert [json.loads(r["detail"])["n"] for r in rows] == [1, 2, 3, 4]
    assert _ok(kehu)


def test_an_append_rolled_back_leaves_no_trace_and_the_next_one_continues_the_chain(kehu):
    chain = kehu.audit
    _append(kehu, chain, [_entry(chain, 1)])
    _append(kehu, chain, [_entry(chain, 2), _entry(chain, 3)], commit=False)  # remembered, never committed
    _append(kehu, chain, [_entry(chain, 4)])
    rows = _log(kehu)
    assert [(r["seq"], json.loads(r["detail"])["n"]) for r in rows] == [(1, 1), (2, 4)]
    assert _ok(kehu)


def test_the_group_committer_and_write_transactions_share_one_chain(kehu, world):
    ctx = world.ctx("alice")
    kehu.audit_writer.submit([_entry(kehu.audit, 1), _entry(kehu.audit, 2)])
    with kehu.db.transaction() as s:  # chained in the session's before_commit
        ctx.audit(s, action="test.write")
    kehu.audit_writer.submit([_entry(kehu.audit, 3)])
    rows = [r for r in _log(kehu) if r["action"] in ("test.append", "test.write")]
    assert [r["action"] for r in rows] == ["test.append", "test.append", "test.write", "test.append"]
    assert _ok(kehu)
