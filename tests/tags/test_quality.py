"""Tag quality: stored figures (by a full evaluation or a check) equal to independent counts, the dashboard
reading them with live reviews, notices when they are missing or stale, sampled review giving an error rate."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, update

from kehu.customers.models import Customer
from kehu.db import utcnow
from kehu.errors import Conflict, Forbidden
from kehu.tags import builtin, engine, quality, quality_snapshot, service
from kehu.tags.models import CustomerTag, Tag, TagHistory, TagQualitySnapshot
from kehu.tags.service import today
from tests.fixtures.sql import statements
from tests.fixtures.world import create_customer
from tests.tags.conftest import add_order, customer_id


def _contradictions_tag_by_tag(s, catalog, as_of) -> dict[str, int]:
    """Each tag's contradiction rule over the frame of every customer, separately (an independent count)."""
    from kehu.tags.compiler import check, condition, frame_select

    env = engine.env_for(s, catalog, as_of)
    out = {}
    for tag in s.execute(select(Tag).where(Tag.contradiction.is_not(None))).scalars():
        rule = check(tag.contradiction, env)
        fr = frame_select(rule, env.as_of).subquery("fr")
        held = fr.c.customer_id.in_(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag.id))
        out[tag.id] = s.execute(select(func.count()).select_from(fr).where(held, condition(rule, fr, env))).scalar_one()
    return out


def _group_conflicts_by_pairs(s) -> list[dict]:
    """Customers holding two tags of one group, grouped by (group, customer) (an independent count)."""
    per = (select(Tag.exclusive_group.label("grp"), CustomerTag.customer_id, func.count().label("n"))
           .join(Tag, Tag.id == CustomerTag.tag_id).where(Tag.exclusive_group.is_not(None))
           .group_by(Tag.exclusive_group, CustomerTag.customer_id).subquery())
    rows = s.execute(select(per.c.grp, func.count()).where(per.c.n > 1).group_by(per.c.grp).order_by(per.c.grp)).all()
    return [{"group": g, "customers": n} for g, n in rows]


def independent(kehu, catalog, snap: TagQualitySnapshot) -> dict:
    """The figures of `snap` counted again, independently of `quality_snapshot`, at its moment and day."""
    with kehu.db.reader() as s:
        holders = dict(s.execute(select(CustomerTag.tag_id, func.count()).group_by(CustomerTag.tag_id)).all())
        since = snap.computed_at - timedelta(days=quality_snapshot.CHANGE_DAYS)
        changes = dict(s.execute(select(TagHistory.tag_id, func.count()).where(TagHistory.at >= since)
                                 .group_by(TagHistory.tag_id)).all())
        flags = _contradictions_tag_by_tag(s, catalog, snap.as_of)
        ids = s.execute(select(Tag.id)).scalars().all()
        return {"customers": s.execute(select(func.count()).select_from(Customer)
                                       .where(Customer.status != "archived")).scalar_one(),
                "tags": {tid: [holders.get(tid, 0), changes.get(tid, 0), flags.get(tid, 0)] for tid in ids},
                "groups": _group_conflicts_by_pairs(s)}


def stored(kehu) -> TagQualitySnapshot:
    """The newest snapshot."""
    with kehu.db.reader() as s:
        return quality_snapshot.latest(s)


def figures_of(snap: TagQualitySnapshot) -> dict:
    """A snapshot's figures in the shape of `independent`."""
    return {"customers": snap.customers, "tags": json.loads(snap.tags),
            "groups": [{"group": g, "customers": n} for g, n in json.loads(snap.groups)]}


def ids(kehu) -> dict[str, str]:
    """Tag id by code."""
    with kehu.db.reader() as s:
        return dict(s.execute(select(Tag.code, Tag.id)).all())


def hold(kehu, customer: str, code: str) -> None:
    """Give a customer a tag by hand (straight into the store: no rule, no history)."""
    with kehu.db.transaction() as s:
        builtin.ensure(s)
        tid = s.execute(select(Tag.id).where(Tag.code == code)).scalar_one()
        s.execute(insert(CustomerTag.__table__).values(customer_id=customer, tag_id=tid, source="manual",
                                                       since=utcnow()))


@pytest.fixture
def store_with_anomalies(kehu, world) -> dict[str, str]:
    """Buyers, an idle customer and an archived one; tags held by hand that contradict the data or another
    tag of their exclusive group (a full evaluation keeps tags held by hand)."""
    info = world.ctx("info")
    sales = world.departments["sales"]
    made = {name: customer_id(kehu, create_customer(kehu, as_user=info, id_number=None, department_id=sales))
            for name in ("buyer", "idle", "small", "gone")}
    for _ in range(3):
        add_order(kehu, made["buyer"], on=today() - timedelta(days=1), amount=10)
    add_order(kehu, made["small"], on=today() - timedelta(days=40), amount=20)
    with kehu.db.transaction() as s:
        s.execute(update(Customer).where(Customer.id == made["gone"]).values(status="archived"))
    hold(kehu, made["idle"], "freq_high")  # "high frequency" without any order in 90 days
    hold(kehu, made["buyer"], "amount_high")  # a big spender by hand, with ¥30 of orders
    hold(kehu, made["buyer"], "freq_low")  # contradicts freq_high, which a rule gives the buyer: a group conflict
    hold(kehu, made["gone"], "freq_high")  # archived: held, but never a contradiction
    return made


def test_a_full_evaluation_stores_figures_equal_to_an_independent_count(kehu, world, store_with_anomalies):
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        stats = engine.evaluate_all(s, info.catalog, as_of=today())
    snap = stored(kehu)
    assert snap.trigger == "evaluate" and snap.actor_id is None and snap.as_of == today()
    assert snap.computed_at == datetime.fromisoformat(stats["at"]) and "quality" in stats["seconds"]
    assert figures_of(snap) == independent(kehu, info.catalog, snap)
    tag = ids(kehu)
    got = json.loads(snap.tags)
    assert got[tag["freq_high"]][2] == 1 and got[tag["amount_high"]][2] == 1 and got[tag["freq_low"]][2] == 1
    assert got[tag["freq_high"]][0] == 3 and got[tag["active"]][1] == 2  # buyer, idle, archived; 2 gained
    # the buyer: amount_high by hand beside amount_low by rule, freq_low by hand beside freq_high by rule
    assert figures_of(snap)["groups"] == [{"group": "amount", "customers": 1}, {"group": "frequency", "customers": 1}]
    assert snap.customers == 3


def test_a_re_evaluation_counts_group_conflicts_of_changed_and_unchanged_customers(kehu, world,
                                                                                    store_with_anomalies):
    """The diff's scan sums the group weights before the writes: customers whose tags the run changes are
    counted again after it, the others from those sums — both must give the independent count."""
    info, made = world.ctx("info"), store_with_anomalies
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    # unchanged by the next run: a second lifecycle tag for the idle customer and a frequency tag beside the
    # small buyer's rule one, both by hand (new conflicts, seen only in the sums folded before the writes)
    hold(kehu, made["idle"], "churned")
    hold(kehu, made["small"], "freq_high")
    # changed by the next run: the buyer's rule tag amount_low is gone from the store, so the run gives it back
    # (the buyer holds amount_high by hand: the conflict is back after the writes, not in the sums before them)
    tag = ids(kehu)
    with kehu.db.transaction() as s:
        s.execute(delete(CustomerTag).where(CustomerTag.customer_id == made["buyer"],
                                            CustomerTag.tag_id == tag["amount_low"]))
    with kehu.db.reader() as s:
        assert {"group": "amount", "customers": 1} not in _group_conflicts_by_pairs(s)
    with kehu.db.transaction() as s:
        stats = engine.evaluate_all(s, info.catalog, as_of=today())
    assert stats["changes"]["amount_low"] == {"gained": 1, "lost": 0}
    snap = stored(kehu)
    with kehu.db.reader() as s:
        assert figures_of(snap)["groups"] == _group_conflicts_by_pairs(s)
    assert {"group": "amount", "customers": 1} in figures_of(snap)["groups"]
    assert {"group": "frequency", "customers": 2} in figures_of(snap)["groups"]  # the buyer and the small buyer
    assert "diff.groups" in stats["seconds"] and "quality.groups" not in stats["seconds"]


def test_a_check_stores_figures_equal_to_an_independent_count(kehu, world, store_with_anomalies):
    info, head = world.ctx("info"), world.ctx("head")
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    hold(kehu, store_with_anomalies["small"], "amount_high")  # after the evaluation: only a check counts it
    with kehu.db.reader() as s:
        figures = quality_snapshot.measure_check(s, head)  # the department head reviews tags
    with kehu.db.transaction() as s:
        shown = quality_snapshot.save_check(s, head, figures=figures)
    snap = stored(kehu)
    assert snap.trigger == "check" and snap.actor_id == world.users["head"]
    assert figures_of(snap) == independent(kehu, info.catalog, snap)
    assert shown["tags"]["amount_high"] == {"holders": 2, "changes_30d": 0, "contradictions": 2}
    assert shown["actor"] == "Head" and shown["computed_at"] == snap.computed_at.isoformat()


def test_figures_before_any_evaluation_equal_an_independent_count(kehu, world, store_with_anomalies):
    """No evaluation yet: the contradiction rules read a frame of the holders (not an evaluation's frame)."""
    info = world.ctx("info")
    with kehu.db.reader() as s:
        figures = quality_snapshot.measure_check(s, info)
    with kehu.db.transaction() as s:
        quality_snapshot.save_check(s, info, figures=figures)
    snap = stored(kehu)
    assert figures_of(snap) == independent(kehu, info.catalog, snap)
    assert json.loads(snap.tags)[ids(kehu)["freq_high"]] == [2, 0, 1]


def test_contradiction_rules_reading_grades_see_the_grades_the_evaluation_wrote(kehu, world, store_with_anomalies):
    """The evaluation's frame holds the grades from before it: a rule reading them is counted afterwards."""
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        s.execute(update(Tag).where(Tag.code == "freq_low").values(contradiction='grade = "A" or grade = "B"'))
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    snap = stored(kehu)
    assert figures_of(snap) == independent(kehu, info.catalog, snap)
    # the buyer (by hand) and the small buyer (by rule): both graded A by this evaluation (the top 15 by spend);
    # the evaluation's frame still had no grade for them
    assert json.loads(snap.tags)[ids(kehu)["freq_low"]][2] == 2


def test_a_contradiction_rule_that_no_longer_compiles_never_stops_an_evaluation(kehu, world, store_with_anomalies):
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        s.execute(update(Tag).where(Tag.code == "amount_low").values(contradiction="removed_field > 3"))
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    assert json.loads(stored(kehu).tags)[ids(kehu)["amount_low"]][2] is None
    with kehu.db.reader() as s:
        row = next(t for t in quality.dashboard(s, info)["tags"] if t["code"] == "amount_low")
    assert row["contradiction_invalid"] and row["contradictions"] is None and row["holders"] is not None


def test_group_conflicts_packed_into_several_words_equal_grouping_by_pairs(kehu, world, store_with_anomalies,
                                                                           monkeypatch):
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    for code in ("age_18_25", "age_26_35", "tier_2", "tier_3", "active", "churned"):  # (tier_1 by rule)
        hold(kehu, store_with_anomalies["idle"], code)
    monkeypatch.setattr(quality_snapshot, "WORD_BITS", 4)  # a group or two per word
    with kehu.db.reader() as s:
        got = quality_snapshot.group_conflicts(s)
        assert got == _group_conflicts_by_pairs(s)
    assert {g["group"] for g in got} == {"age", "region", "lifecycle", "frequency", "amount"}


def test_only_the_newest_snapshots_are_kept_and_the_newest_figures_are_read(kehu, world):
    info = world.ctx("info")
    with kehu.db.reader() as s:
        figures = quality_snapshot.measure_now(s, info.catalog)
    start = datetime.fromisoformat(figures["computed_at"])
    with kehu.db.transaction() as s:
        for i in range(quality_snapshot.KEEP + 2):
            at = start - timedelta(minutes=i)  # written newest first: a late check must not hide newer figures
            quality_snapshot.store(s, {**figures, "computed_at": at.isoformat(), "customers": i},
                                   trigger="check", actor_id=None)
    with kehu.db.reader() as s:
        assert s.execute(select(func.count()).select_from(TagQualitySnapshot)).scalar_one() == quality_snapshot.KEEP
        assert quality_snapshot.latest(s).customers == 0


def test_the_dashboard_says_when_the_figures_are_missing_or_stale(kehu, world, store_with_anomalies):
    info, head = world.ctx("info"), world.ctx("head")
    with kehu.db.reader() as s:
        board = quality.dashboard(s, info)
    assert board["notice"] == {"kind": "none"} and board["snapshot"] is None and board["customers"] is None
    assert all(t["holders"] is None and t["coverage"] is None for t in board["tags"])
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    with kehu.db.reader() as s:
        board = quality.dashboard(s, info)
    assert board["notice"] is None and board["snapshot"]["trigger"] == "evaluate" and board["customers"] == 3
    with kehu.db.transaction() as s:  # a rule activated since: its tag was re-applied to everyone
        service.create_tag(s, info, data={"code": "repeat_buyer", "name": "复购客户", "family": "behaviour",
                                          "expression": "count(orders) >= 2"})
    with kehu.db.transaction() as s:
        service.review(s, head, code="repeat_buyer", version=1)
    with kehu.db.transaction() as s:
        service.activate(s, info, code="repeat_buyer", version=1)
    with kehu.db.reader() as s:
        board = quality.dashboard(s, info)
    assert board["notice"]["kind"] == "rules"
    assert next(t for t in board["tags"] if t["code"] == "repeat_buyer")["holders"] is None  # newer than the figures
    with kehu.db.transaction() as s:  # figures older than the last full evaluation (e.g. from before an upgrade)
        s.execute(update(TagQualitySnapshot).values(computed_at=utcnow() - timedelta(days=1)))
        stats = service.settings_view(s, info)["last_full_evaluation"]
    with kehu.db.reader() as s:
        assert quality.dashboard(s, info)["notice"] == {"kind": "evaluation", "at": stats["at"]}
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
        s.execute(update(TagQualitySnapshot).values(computed_at=utcnow() + timedelta(seconds=1)))  # after all else
    with kehu.db.reader() as s:
        assert quality.dashboard(s, info)["notice"] is None
    with kehu.db.transaction() as s, pytest.MonkeyPatch.context() as mp:
        mp.setattr(quality, "utcnow", lambda: utcnow() + quality.STALE_AFTER + timedelta(minutes=1))
        assert quality.dashboard(s, info)["notice"] == {"kind": "old", "days": quality.STALE_AFTER.days}


def test_the_dashboard_reads_no_held_tag_history_or_order(kehu, world, store_with_anomalies):
    """Reading the page costs the same on any store: only the snapshot, the catalogue and the reviews."""
    info = world.ctx("info")
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    with statements() as seen, kehu.db.reader() as s:
        board = quality.dashboard(s, info)
    assert board["snapshot"] and seen
    assert not [q for q in seen if any(t in q.lower() for t in ("customer_tags", "tag_history", "orders", "from customers"))]


def test_only_tag_managers_and_reviewers_see_or_check_the_figures(kehu, world):
    for user in ("alice", "admin", "auditor"):
        with kehu.db.reader() as s, pytest.raises(Forbidden):
            quality.dashboard(s, world.ctx(user))
        with kehu.db.reader() as s, pytest.raises(Forbidden):
            quality_snapshot.measure_check(s, world.ctx(user))
        with kehu.db.transaction() as s, pytest.raises(Forbidden):
            quality_snapshot.save_check(s, world.ctx(user), figures={})


def test_one_check_at_a_time(kehu, world):
    assert quality_snapshot._checking.acquire(blocking=False)
    try:
        with kehu.db.reader() as s, pytest.raises(Conflict) as err:
            quality_snapshot.measure_check(s, world.ctx("info"))
        assert err.value.code == "check_running"
    finally:
        quality_snapshot._checking.release()


def test_sampled_reviews_give_a_live_error_rate(kehu, world, store_with_anomalies):
    info, head = world.ctx("info"), world.ctx("head")
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    with kehu.db.transaction() as s:
        drawn = quality.sample(s, head, code="freq_high", size=5)
    assert len(drawn) == 3 and all(d["customer"] for d in drawn)
    with kehu.db.transaction() as s:
        for d in drawn[:2]:
            quality.record(s, head, review_id=d["id"], correct=False)
        quality.record(s, head, review_id=drawn[2]["id"], correct=True)
    with kehu.db.reader() as s:
        row = next(t for t in quality.dashboard(s, info)["tags"] if t["code"] == "freq_high")
    assert row["reviewed"] == 3 and row["errors"] == 2 and row["error_rate"] == 0.6667  # no new snapshot needed
    assert row["holders"] == 3 and row["contradictions"] == 1 and row["coverage"] == 1.0


def test_the_api_returns_the_stored_figures_with_their_time_and_checks_now(client, api, kehu, world,
                                                                           store_with_anomalies):
    r = client.get("/api/v1/tags/quality", headers=api("info"))
    assert r.status_code == 200 and r.json()["snapshot"] is None and r.json()["notice"] == {"kind": "none"}
    r = client.post("/api/v1/tags/quality/check", headers=api("head"))
    assert r.status_code == 200, r.text
    checked = r.json()
    assert checked["trigger"] == "check" and checked["actor"] == "Head" and checked["customers"] == 3
    assert checked["tags"]["freq_high"] == {"holders": 2, "changes_30d": 0, "contradictions": 1}
    r = client.get("/api/v1/tags/quality", headers=api("info"))
    board = r.json()
    assert board["notice"] is None and board["snapshot"]["computed_at"] == checked["computed_at"]
    assert board["snapshot"]["trigger"] == "check" and board["snapshot"]["seconds"] >= 0
    assert next(t for t in board["tags"] if t["code"] == "freq_high")["holders"] == 2
    assert datetime.fromisoformat(board["snapshot"]["computed_at"]) <= utcnow()


def test_the_api_denies_the_figures_and_the_check_by_default(client, api, kehu, world):
    for method in ("GET", "POST"):
        path = "/api/v1/tags/quality" + ("/check" if method == "POST" else "")
        assert client.request(method, path).status_code == 401
        for user in ("alice", "admin", "auditor"):  # no manage_tags, no review_tags
            assert client.request(method, path, headers=api(user)).status_code == 403, (method, user)
    with kehu.db.reader() as s:
        assert quality_snapshot.latest(s) is None


def test_the_command_line_checks_and_evaluates(kehu, world, store_with_anomalies, monkeypatch):
    from typer.testing import CliRunner

    from kehu.cli import app

    monkeypatch.setattr("kehu.runtime.Kehu", lambda: kehu)
    result = CliRunner().invoke(app, ["tags", "quality"])
    assert result.exit_code == 0, result.output
    assert "标签质量数据已更新：在档客户 3 个" in result.output
    snap = stored(kehu)
    assert snap.trigger == "check" and snap.actor_id is None
    assert figures_of(snap) == independent(kehu, world.ctx("info").catalog, snap)
    result = CliRunner().invoke(app, ["tags", "evaluate"])
    assert result.exit_code == 0, result.output
    assert stored(kehu).trigger == "evaluate"
