"""Two-person approval: a different person with the capability and the rights decides; single use; exact payload."""
from __future__ import annotations

import pytest

from kehu.approvals import service
from kehu.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.approvals.conftest import KIND, age, ask, audit_rows, person, run

PAYLOAD = {"fields": ["customer.name"], "purpose": "测试"}


def test_second_person_approves_and_the_requester_uses_it_once(kehu, world, info2):
    aid = ask(kehu, world)
    decided = run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=True, reason="同意"))
    assert decided["status"] == "approved" and decided["decider_name"] == "Info2"
    used = run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=PAYLOAD))
    assert used.status == "used" and used.used_at is not None
    with pytest.raises(Forbidden) as again:
        run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=PAYLOAD))
    assert again.value.code == "approval_used"


def test_self_approval_is_refused(kehu, world):
    aid = ask(kehu, world)
    with pytest.raises(Forbidden) as exc:
        run(kehu, lambda s: service.decide(s, world.ctx("info"), approval_id=aid, approve=True, reason=None))
    assert exc.value.code == "self_approval"
    assert run(kehu, lambda s: service.get(s, world.ctx("info"), approval_id=aid))["status"] == "pending"


def test_approver_needs_the_capability(kehu, world):
    aid = ask(kehu, world)
    # no approve_export capability: the request does not exist for them
    with pytest.raises(NotFound):
        run(kehu, lambda s: service.decide(s, world.ctx("head"), approval_id=aid, approve=True, reason=None))


def test_approver_needs_the_data_rights_of_the_operation(kehu, world):
    weak = person(kehu, world, username="weak", capabilities=["approve_export"],
                  grants=[("view", 2), ("view", 3), ("export", 2), ("export", 3)])
    aid = ask(kehu, world, rights=(("export", 1), ("export", 2)))
    with pytest.raises(Forbidden) as exc:
        run(kehu, lambda s: service.decide(s, world.ctx(weak), approval_id=aid, approve=True, reason=None))
    assert exc.value.code == "approver_lacks_rights" and "export@1" in exc.value.message
    item = run(kehu, lambda s: service.get(s, world.ctx(weak), approval_id=aid))
    assert item["can_decide"] is False


def test_rejection_needs_a_reason_and_cannot_be_used(kehu, world, info2):
    aid = ask(kehu, world)
    with pytest.raises(ValidationFailed) as exc:
        run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=False, reason=" "))
    assert [e.field for e in exc.value.errors] == ["reason"]
    out = run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=False, reason="用途不明确"))
    assert out["status"] == "rejected" and out["decision_reason"] == "用途不明确"
    with pytest.raises(Conflict):
        run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=True, reason=None))
    with pytest.raises(Forbidden) as used:
        run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=PAYLOAD))
    assert used.value.code == "approval_rejected"


def test_pending_request_cannot_be_used(kehu, world):
    aid = ask(kehu, world)
    with pytest.raises(Forbidden) as exc:
        run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=PAYLOAD))
    assert exc.value.code == "approval_pending"


def test_expired_requests_cannot_be_decided_or_used(kehu, world, info2):
    pending = ask(kehu, world)
    age(kehu, pending, hours=1)
    with pytest.raises(Conflict) as exc:
        run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=pending, approve=True, reason=None))
    assert exc.value.code == "approval_expired"
    approved = ask(kehu, world, payload={"other": 1})
    run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=approved, approve=True, reason=None))
    age(kehu, approved, hours=1)
    with pytest.raises(Forbidden) as late:
        run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=approved, kind=KIND.code,
                                            payload={"other": 1}))
    assert late.value.code == "approval_expired"
    assert run(kehu, lambda s: service.get(s, world.ctx("info"), approval_id=approved))["status"] == "expired"


def test_a_different_payload_is_refused(kehu, world, info2):
    aid = ask(kehu, world)
    run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=True, reason=None))
    for other in ({"fields": ["customer.name", "customer.mobile"], "purpose": "测试"},
                  {"fields": ["customer.name"], "purpose": "另一用途"}):
        with pytest.raises(Forbidden) as exc:
            run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=other))
        assert exc.value.code == "approval_mismatch"
    with pytest.raises(Forbidden) as kind:
        run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind="export.level1",
                                            payload=PAYLOAD))
    assert kind.value.code == "approval_mismatch"
    # still usable for exactly what was approved
    run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=PAYLOAD))


def test_only_the_requester_may_use_an_approval(kehu, world, info2):
    aid = ask(kehu, world)
    run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=True, reason=None))
    with pytest.raises(NotFound):
        run(kehu, lambda s: service.consume(s, world.ctx(info2), approval_id=aid, kind=KIND.code, payload=PAYLOAD))


def test_queue_and_own_view(kehu, world, info2):
    mine = ask(kehu, world)
    theirs = ask(kehu, world, info2, payload={"x": 1})
    queue = run(kehu, lambda s: service.list_(s, world.ctx("info"), view="queue"))
    assert [i["id"] for i in queue["items"]] == [theirs]
    assert queue["items"][0]["can_decide"] is True
    own = run(kehu, lambda s: service.list_(s, world.ctx("info"), view="mine"))
    assert [i["id"] for i in own["items"]] == [mine] and own["items"][0]["mine"] is True
    # a user who neither asked nor may approve sees none of it
    assert run(kehu, lambda s: service.list_(s, world.ctx("head"), view="queue"))["items"] == []
    with pytest.raises(NotFound):
        run(kehu, lambda s: service.get(s, world.ctx("alice"), approval_id=mine))
    run(kehu, lambda s: service.decide(s, world.ctx("info"), approval_id=theirs, approve=False, reason="不需要"))
    decided = run(kehu, lambda s: service.list_(s, world.ctx("info"), view="decided"))
    assert [i["id"] for i in decided["items"]] == [theirs]


def test_identical_pending_request_is_reused(kehu, world):
    assert ask(kehu, world) == ask(kehu, world)


def test_unknown_kind_is_refused(kehu, world):
    with pytest.raises(ValidationFailed):
        run(kehu, lambda s: service.request(s, world.ctx("info"), kind="no.such", summary="x", payload={}, rights=[]))


def test_every_step_is_audited(kehu, world, info2):
    aid = ask(kehu, world)
    run(kehu, lambda s: service.decide(s, world.ctx(info2), approval_id=aid, approve=True, reason="同意"))
    run(kehu, lambda s: service.consume(s, world.ctx("info"), approval_id=aid, kind=KIND.code, payload=PAYLOAD))
    for action, actor in (("approval.request", "info"), ("approval.approve", "info2"), ("approval.use", "info")):
        rows = audit_rows(kehu, action)
        assert [(r.target_id, r.actor_name) for r in rows] == [(aid, actor)], action
    assert audit_rows(kehu, "approval.approve")[0].reason == "同意"


def test_api_decisions(kehu, world, client, api, info2):
    aid = ask(kehu, world)
    r = client.post(f"/api/v1/approvals/{aid}/approve", json={}, headers=api("info"))
    assert r.status_code == 403 and r.json()["code"] == "self_approval"
    r = client.post(f"/api/v1/approvals/{aid}/reject", json={}, headers=api(info2))
    assert r.status_code == 422
    r = client.get("/api/v1/approvals?view=queue", headers=api(info2))
    assert [i["id"] for i in r.json()["items"]] == [aid]
    r = client.post(f"/api/v1/approvals/{aid}/approve", json={"reason": "可以"}, headers=api(info2))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert client.get(f"/api/v1/approvals/{aid}", headers=api("alice")).status_code == 404
    assert client.get("/api/v1/approvals?view=mine", headers=api("info")).json()["items"][0]["status"] == "approved"
    denied = [r for r in audit_rows(kehu, "approval.approve") if r.outcome == "denied"]
    assert len(denied) == 1 and denied[0].actor_name == "info"
