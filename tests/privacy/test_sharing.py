"""Sharing with a third party: nothing leaves without a second person's approval; every share is recorded."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from kehu.approvals import service as approvals
from kehu.errors import Forbidden, NotFound, ValidationFailed
from kehu.exports import writer
from kehu.privacy import copy, requests, sharing
from tests.fixtures.world import create_customer

TODAY = date(2026, 11, 22)
ASK = dict(recipient="上海某物流有限公司", purpose="配送签收", fields=["name", "mobile", "bank_account"],
           legal_basis="contract", agreement_ref="NDA-2026-017", expires_on=date(2026, 12, 31), today=TODAY)


def _ask(kehu, world, nos: list[str], user: str = "info", **kw):
    with kehu.db.transaction() as s:
        share = sharing.request(s, world.ctx(user), customer_nos=nos, **{**ASK, **kw})
        return share.id, share.approval_id


def test_a_share_cannot_be_produced_without_its_approval(kehu, world, info2):
    accounts = [f"62220202001133{i:05d}" for i in range(2)]
    nos = [create_customer(kehu, as_user=world.ctx("info"), bank_account=a) for a in accounts]
    sid, aid = _ask(kehu, world, nos)
    with pytest.raises(Forbidden) as err, kehu.db.transaction() as s:
        sharing.produce(s, world.ctx("info"), share_id=sid, fmt="xlsx", today=TODAY)
    assert err.value.code == "approval_pending"
    with pytest.raises(Forbidden) as err, kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info"), approval_id=aid, approve=True, reason=None)
    assert err.value.code == "self_approval"
    with pytest.raises(NotFound), kehu.db.transaction() as s:  # only the requester produces it
        sharing.produce(s, world.ctx("info2"), share_id=sid, fmt="xlsx", today=TODAY)
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=True, reason=None)
    with kehu.db.transaction() as s:
        plan = sharing.produce(s, world.ctx("info"), share_id=sid, fmt="xlsx", today=TODAY)
    wb = load_workbook(io.BytesIO(b"".join(writer.stream(plan))))
    rows = list(wb.active.iter_rows(values_only=True))
    assert "NDA-2026-017" in rows[0][0] and len(rows) == 2 + len(nos)
    assert sorted(r[2] for r in rows[2:]) == accounts  # approved level-1 values: plain
    with pytest.raises(Exception), kehu.db.transaction() as s:  # once only
        sharing.produce(s, world.ctx("info"), share_id=sid, fmt="xlsx", today=TODAY)


def test_every_share_is_in_the_customers_copy(kehu, world, info2):
    no = create_customer(kehu, as_user=world.ctx("info"))
    sid, aid = _ask(kehu, world, [no])
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=True, reason=None)
    with kehu.db.transaction() as s:
        sharing.produce(s, world.ctx("info"), share_id=sid, fmt="csv", today=TODAY)
    with kehu.db.transaction() as s:
        req = requests.create(s, world.ctx("info"), customer_no=no, kind="copy", received_on=TODAY).request_no
    with kehu.db.transaction() as s:
        requests.verify(s, world.ctx("info"), request_no=req, method="id_document")
    with kehu.db.transaction() as s:
        body = copy.for_request(s, world.ctx("info"), request_no=req)
    assert body["shares"][0]["recipient"] == ASK["recipient"]
    assert body["shares"][0]["fields"] == ["customer.name", "customer.mobile", "customer.bank_account"]
    assert any(a["action"] == "privacy.share" for a in body["accesses"])


def test_a_share_request_names_every_bad_field(kehu, world):
    with pytest.raises(ValidationFailed) as bad, kehu.db.transaction() as s:
        sharing.request(s, world.ctx("info"), recipient="", purpose="x", fields=["nope"], customer_nos=[],
                        legal_basis="whim", agreement_ref="", expires_on=TODAY, today=TODAY)
    assert {e.field for e in bad.value.errors} == {"recipient", "purpose", "fields", "customer_nos", "legal_basis",
                                                   "agreement_ref", "expires_on"}


def test_staff_without_the_share_right_cannot_ask(kehu, world):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    with pytest.raises(ValidationFailed) as bad, kehu.db.transaction() as s:
        sharing.request(s, world.ctx("alice"), customer_nos=[no], **ASK)
    assert [e.code for e in bad.value.errors] == ["forbidden"]
    with pytest.raises(NotFound), kehu.db.transaction() as s:  # out-of-scope customers do not exist
        sharing.request(s, world.ctx("info"), customer_nos=[no, "KH20269999999"], **ASK)
