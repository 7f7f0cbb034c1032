"""Web pages of exports and approvals: the button on the list, the form, the approval flow, the download."""
from __future__ import annotations

import re

from tests.exports.conftest import Browserless, read_csv, read_xlsx
from tests.fixtures.world import create_customer

BANK = "6222020200112233445"


def test_list_offers_the_export_button_only_with_an_export_grant(kehu, world, client):
    assert 'id="export-button"' in Browserless(kehu, world, client, "head").get("/customers").text
    assert 'id="export-button"' not in Browserless(kehu, world, client, "alice").get("/customers").text
    page = Browserless(kehu, world, client, "alice").get("/exports/new")
    assert page.status_code == 404


def test_form_carries_the_list_filters_and_offers_only_exportable_columns(kehu, world, client):
    head = Browserless(kehu, world, client, "head")
    page = head.get("/exports/new?region=%E5%8D%8E%E4%B8%9C&sort=name&q=zs")
    assert page.status_code == 200
    assert 'name="region" value="华东"' in page.text and 'name="sort" value="name"' in page.text
    assert 'name="q" value="zs"' in page.text
    offered = set(re.findall(r'name="fields" value="([a-z_]+)"', page.text))
    assert "mobile" in offered and "id_number" not in offered and "bank_account" not in offered
    assert 'name="plaintext"' not in page.text  # head may not export level 1 at all
    # HTMX submit from the list's filter form: the form opens as a full page
    r = head.get("/exports/new?region=x", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].endswith("/exports/new?region=x")


def test_form_post_downloads_the_file_or_shows_the_problems(kehu, world, client):
    create_customer(kehu, as_user=world.ctx("alice"), region="华东")
    head = Browserless(kehu, world, client, "head")
    bad = head.post("/exports", [("fields", "archive_no"), ("use", "service"), ("format", "csv"), ("purpose", "")])
    assert bad.status_code == 422 and "请填写导出用途" in bad.text
    ok = head.post("/exports", [("fields", "archive_no"), ("fields", "mobile"), ("use", "service"),
                                ("format", "xlsx"), ("purpose", "回访"), ("region", "华东")])
    assert ok.status_code == 200 and "attachment" in ok.headers["content-disposition"]
    _wb, rows = read_xlsx(ok.content)
    assert "回访" in rows[0][0].value and len(rows) == 3
    forbidden = head.post("/exports", [("fields", "id_number"), ("use", "service"), ("format", "csv"),
                                       ("purpose", "回访")])
    assert forbidden.status_code == 403 and "身份证号" in forbidden.text


def test_plaintext_flow_through_the_pages(kehu, world, client, info2):
    no = create_customer(kehu, as_user=world.ctx("alice"), bank_account=BANK)
    info = Browserless(kehu, world, client, "info")
    r = info.post("/exports", [("fields", "archive_no"), ("fields", "bank_account"), ("use", "operations"),
                               ("format", "csv"), ("purpose", "对账"), ("plaintext", "on")])
    assert r.status_code == 303 and "ok=approval_requested" in r.headers["location"]
    export_page = r.headers["location"].split("?")[0]
    waiting = info.get(r.headers["location"])
    assert "明文导出须经审批" in waiting.text and "/download" not in waiting.text
    approval_id = re.search(r'href="/approvals/([0-9a-f]{32})"', waiting.text).group(1)
    # the requester has no decision form on their own request, and posting one is refused
    own = info.get(f"/approvals/{approval_id}")
    assert "/approve" not in own.text
    refused = info.post(f"/approvals/{approval_id}/approve", {"reason": ""})
    assert refused.status_code == 403 and "不能审批本人" in refused.text
    # the second information manager sees it in the queue and approves
    approver = Browserless(kehu, world, client, info2)
    assert approval_id in approver.get("/approvals").text
    page = approver.get(f"/approvals/{approval_id}")
    assert "银行账号" in page.text and "对账" in page.text and f"/approvals/{approval_id}/approve" in page.text
    rejected = approver.post(f"/approvals/{approval_id}/reject", {"reason": ""})
    assert rejected.status_code == 422
    assert approver.post(f"/approvals/{approval_id}/approve", {"reason": "同意"}).status_code == 303
    ready = info.get(export_page)
    assert f"{export_page}/download" in ready.text
    got = info.post(f"{export_page}/download", {})
    assert got.status_code == 200
    _mark, _h, rows = read_csv(got.content)
    assert rows == [[no, BANK]]
    again = info.post(f"{export_page}/download", {})
    assert again.status_code == 409 and "不能再次下载" in again.text


def test_menus(kehu, world, client, info2):
    assert 'href="/approvals/queue"' in Browserless(kehu, world, client, "info").get("/customers").text
    head = Browserless(kehu, world, client, "head").get("/customers").text
    assert 'href="/exports"' in head and 'href="/approvals' not in head
    alice = Browserless(kehu, world, client, "alice").get("/customers").text
    assert 'href="/exports"' not in alice and 'href="/approvals' not in alice
