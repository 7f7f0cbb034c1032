"""Web pages of tags: catalogue, rule editor with dry run and errors, quality, segments, chips and filters."""
from __future__ import annotations

import re
from datetime import timedelta

from kehu.tags import engine
from kehu.tags.service import today
from tests.fixtures.world import create_customer
from tests.tags.conftest import add_order, csrf_of as _csrf, customer_id


def test_catalogue_editor_dry_run_and_errors(browse, kehu, world):
    c = browse("info")
    page = c.get("/tags")
    assert page.status_code == 200 and "/tags/freq_high" in page.text and 'href="/tags/quality"' in page.text
    detail = c.get("/tags/freq_high")
    assert detail.status_code == 200 and "count(orders, 30d) &gt;= 3" in detail.text
    bad = c.post("/tags/freq_high/draft", data={"csrf": _csrf(detail.text), "expression": "count(orders) >",
                                               "action": "save"})
    assert bad.status_code == 422 and "第1行第16列" in bad.text
    dry = c.post("/tags/freq_high/draft", data={"csrf": _csrf(detail.text), "expression": "count(orders) >= 0",
                                               "action": "dry"})
    assert dry.status_code == 200 and "试运行结果" in dry.text
    buyer = create_customer(kehu, as_user=world.ctx("info"), id_number=None)  # one order: freq_high would now tag it
    add_order(kehu, customer_id(kehu, buyer), on=today() - timedelta(days=1), amount=500)
    dry = c.post("/tags/freq_high/draft", data={"csrf": _csrf(detail.text), "expression": "count(orders, 30d) >= 1",
                                               "action": "dry"})
    gained = re.search(r'<ul class="members gained_members">(.*?)</ul>', dry.text, re.S)
    assert "新规则将新增" in dry.text and gained and buyer in gained.group(1)
    saved = c.post("/tags/freq_high/draft", data={"csrf": _csrf(detail.text), "expression": "count(orders, 30d) >= 4",
                                                 "action": "save"}, follow_redirects=False)
    assert saved.status_code == 303
    assert "count(orders, 30d) &gt;= 4" in c.get("/tags/freq_high").text
    assert c.get("/tags/quality").status_code == 200


def test_chips_and_filters_on_the_customer_list_and_archive(browse, kehu, world):
    info = world.ctx("info")
    buyer = create_customer(kehu, as_user=info, id_number=None)
    idle = create_customer(kehu, as_user=info, id_number=None)
    add_order(kehu, customer_id(kehu, buyer), on=today() - timedelta(days=1), amount=500)
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, info.catalog, as_of=today())
    c = browse("info")
    listing = c.get("/customers?tag=active")
    assert listing.status_code == 200 and buyer in listing.text and idle not in listing.text
    assert 'href="/customers?tag=active"' in listing.text  # the chip itself links to the filter
    graded = c.get("/customers?grade=A")
    assert buyer in graded.text and idle not in graded.text
    archive = c.get(f"/customers/{buyer}")
    assert archive.status_code == 200 and "chip grade grade-a" in archive.text
    assert f'href="/customers/{buyer}/grade"' in archive.text
    why = c.get(f"/customers/{buyer}/grade")
    assert why.status_code == 200 and "近90天消费额排名前15" in why.text
    assert browse("bob").get(f"/customers/{buyer}/grade").status_code == 404  # not bob's customer


def test_segments_pages(browse, kehu, world):
    c = browse("alice")
    page = c.get("/segments")
    assert page.status_code == 200
    r = c.post("/segments", data={"csrf": _csrf(page.text), "name": "活跃", "expression": 'has_tag("active")'},
               follow_redirects=True)
    assert r.status_code == 200 and "has_tag(&#34;active&#34;)" in r.text
    url = str(r.url).removeprefix("http://testserver")
    token = _csrf(r.text)
    bad = c.post(url, data={"csrf": token, "name": "", "description": "x" * 501, "expression": "has_tag("})
    assert bad.status_code == 422 and "请填写名称" in bad.text and "说明不超过500字" in bad.text
    assert 'aria-invalid="true" aria-describedby="f-expression-err"' in bad.text and "has_tag(</textarea>" in bad.text
    ok = c.post(url, data={"csrf": token, "name": "活跃客户", "description": "90天内购买",
                           "expression": 'has_tag("active") or has_tag("dormant")'}, follow_redirects=True)
    assert ok.status_code == 200 and "<h1>活跃客户</h1>" in ok.text and "90天内购买" in ok.text
    assert "has_tag(&#34;dormant&#34;)" in ok.text
    gone = c.post(url + "/delete", data={"csrf": token}, follow_redirects=True)
    assert gone.status_code == 200 and "已删除" in gone.text and "活跃客户" not in gone.text
    assert c.get(url).status_code == 404
    # staff manage no tags: no quality page for them
    assert c.get("/tags/quality").status_code == 404



def test_list_api_and_exports_filter_by_grade(kehu, world, client, api):
    """Tag and grade are list filters: the API and the export built on the list honour them."""
    from sqlalchemy import select

    from kehu.customers.models import Customer
    from kehu.tags.models import CustomerGrade
    from tests.exports.conftest import export, read_csv
    from tests.fixtures.world import create_customer

    a, b = (create_customer(kehu, as_user=world.ctx("info")) for _ in range(2))
    with kehu.db.transaction() as s:
        for no, grade in ((a, "A"), (b, "C")):
            cid = s.execute(select(Customer.id).where(Customer.archive_no == no)).scalar_one()
            row = s.get(CustomerGrade, cid) or CustomerGrade(customer_id=cid)
            row.grade = grade
            s.add(row)
    r = client.get("/api/v1/customers", params={"grade": "A", "limit": 100}, headers=api("info"))
    assert r.status_code == 200 and a in {i["archive_no"] for i in r.json()["items"]}
    assert b not in {i["archive_no"] for i in r.json()["items"]}
    r = export(client, api("info"), fields=["archive_no"], use="service", filters={"grade": "A"})
    assert r.status_code == 200, r.text
    _mark, _header, rows = read_csv(r.content)
    assert a in {row[0] for row in rows} and b not in {row[0] for row in rows}


def test_segment_page_links_to_an_export_form_naming_the_segment(browse, kehu, world):
    from kehu.tags import segments

    with kehu.db.transaction() as s:
        seg = segments.save(s, world.ctx("info"), data={"name": "高价值买家", "expression": "count(orders) >= 1"})
    client = browse("info")
    page = client.get(f"/segments/{seg['id']}").text
    link = f"/exports/new?segment={seg['id']}&amp;use=marketing"
    assert link in page
    form = client.get(link.replace("&amp;", "&")).text
    assert "客户分群 = 高价值买家（count(orders) &gt;= 1）" in form  # its name and rule, not its id
    assert '<option value="marketing" selected' in form


def test_quality_page_shows_when_the_figures_were_computed_and_checks_now(browse, kehu, world):
    from kehu.tags.quality_snapshot import latest
    from kehu.web.render import format_dt

    c = browse("head")  # reviews tags
    page = c.get("/tags/quality")
    assert page.status_code == 200 and "尚未计算标签质量数据" in page.text and "数据计算于" not in page.text
    assert 'action="/tags/quality/check"' in page.text and "立即检查" in page.text
    assert c.post("/tags/quality/check", data={}).status_code == 403  # no CSRF token
    with kehu.db.reader() as s:
        assert latest(s) is None
    r = c.post("/tags/quality/check", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tags/quality?ok=quality_checked"
    page = c.get(r.headers["location"])
    with kehu.db.reader() as s:
        snap = latest(s)
    assert "标签质量数据已更新" in page.text and "尚未计算标签质量数据" not in page.text
    assert f"数据计算于 {format_dt(snap.computed_at)}（耗时 {snap.duration_ms / 1000:.1f} 秒）" in page.text
    assert "由 Head 立即检查" in page.text
    with kehu.db.transaction() as s:
        engine.evaluate_all(s, world.ctx("info").catalog, as_of=today())
    assert "由全量评估计算" in browse("info").get("/tags/quality").text


def test_staff_may_not_check_the_quality_figures(browse, kehu):
    c = browse("alice")
    token = _csrf(c.get("/segments").text)
    assert c.post("/tags/quality/check", data={"csrf": token}).status_code == 404  # as if the page did not exist
    from kehu.tags.quality_snapshot import latest

    with kehu.db.reader() as s:
        assert latest(s) is None
