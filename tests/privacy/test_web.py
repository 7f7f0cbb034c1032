"""The privacy pages over HTTP: register → verify → copy download → deletion; retention, holds, shares."""
from __future__ import annotations

import re
from datetime import date

from kehu.approvals import service as approvals
from kehu.privacy import sharing
from tests.web.test_flow_pages import Browser


def test_request_pages_through_to_the_copy(client, kehu, world, rich):
    b = Browser(client, kehu, world, "info")
    page = b.get("/privacy/requests")
    assert page.status_code == 200 and 'href="/privacy/requests"' in page.text  # in the menu
    r = b.post("/privacy/requests", {"customer_no": rich.archive_no, "kind": "copy", "channel": "柜台"})
    assert r.status_code == 303, r.text
    no = re.search(r"/privacy/requests/(QQ\d+)", b.get("/privacy/requests").text).group(1)
    assert b.get(f"/privacy/requests/{no}/copy.json").status_code == 409
    bad = b.post(f"/privacy/requests/{no}/reject", {"reason": ""})
    assert bad.status_code == 422 and "has-error" in bad.text
    assert b.post(f"/privacy/requests/{no}/verify", {"method": "id_document"}).status_code == 303
    detail = b.get(f"/privacy/requests/{no}")
    assert "copy.xlsx" in detail.text
    x = b.get(f"/privacy/requests/{no}/copy.xlsx")
    assert x.status_code == 200 and x.content[:2] == b"PK"
    assert b.post(f"/privacy/requests/{no}/complete", {"reason": "已提供副本"}).status_code == 303


def test_retention_page_holds_and_archive_destruction(client, kehu, world, info2, rich):
    b = Browser(client, kehu, world, "info")
    assert b.get("/privacy/retention").status_code == 200
    assert b.post("/privacy/retention/hold", {"customer_no": rich.archive_no, "reason": "诉讼保全"}).status_code == 303
    assert b.post("/privacy/retention/archive", {"customer_no": rich.archive_no, "reason": "客户要求"}).status_code == 303
    page = b.get("/privacy/retention").text
    assert "诉讼保全" in page and re.search(r'href="/approvals/(\w+)"', page)
    staff = Browser(client, kehu, world, "alice")
    assert staff.get("/privacy/retention").status_code in (403, 404)
    assert 'href="/privacy/requests"' not in staff.get("/customers").text


def test_share_page_produces_an_approved_share(client, kehu, world, info2, rich):
    with kehu.db.transaction() as s:
        share = sharing.request(s, world.ctx("info"), recipient="某物流公司", purpose="配送", fields=["name"],
                                customer_nos=[rich.archive_no], legal_basis="contract", agreement_ref="NDA-1",
                                expires_on=date(2099, 1, 1), today=date.today())
        sid, aid = share.id, share.approval_id
    b = Browser(client, kehu, world, "info")
    assert b.post(f"/privacy/shares/{sid}/file").status_code == 403  # not yet approved
    with kehu.db.transaction() as s:
        approvals.decide(s, world.ctx("info2"), approval_id=aid, approve=True, reason=None)
    f = b.post(f"/privacy/shares/{sid}/file")
    assert f.status_code == 200 and f.content[:2] == b"PK"
    assert "NDA-1" in b.get("/privacy/shares").text
