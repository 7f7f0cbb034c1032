"""The import pages and the likely-duplicates panel, through the app's HTML routes (session cookie, CSRF)."""
from __future__ import annotations

import io
import re
import time

from openpyxl import load_workbook
from sqlalchemy import func, select

from kehu.access import service as access
from kehu.consent.models import ConsentRecord
from kehu.customers import service as customers
from kehu.customers.models import Customer
from kehu.web.session import SESSION_COOKIE
from tests.fixtures.world import customer_data
from tests.imports.conftest import committing, person, write_csv

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def signed_in(client, kehu, world, username: str) -> str:
    with kehu.db.transaction() as s:
        token = access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1",
                             kind="web").token
    client.cookies.set(SESSION_COOKIE, token)
    page = client.get("/imports")
    assert page.status_code == 200, page.text
    return CSRF.search(page.text).group(1)


def test_upload_map_check_commit_and_download(client, kehu, world, tmp_path):
    csrf = signed_in(client, kehu, world, "info")
    assert "/imports" in client.get("/customers").text  # in the menu
    form = client.get("/imports").text
    assert 'name="purposes" value="marketing"' in form and 'name="guardian_consent"' in form
    assert 'name="notice_version" type="text" value="1.0"' in form  # the notice in force, to confirm
    rows = [person(), person(mobile="12345"), person()]
    data = write_csv(tmp_path / "web.csv", rows, encoding="gbk").read_bytes()
    basis = {"csrf": csrf, "purposes": ["service", "contract"], "scope": "联系方式", "channel": "import", "notice_version": "1.0",
             "sensitive_consent": "yes", "on_existing": "reject"}
    r = client.post("/imports", data=basis, files={"file": ("客户名单.csv", data, "text/csv")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    listing = client.get("/imports")  # the job is listed beside the upload form
    assert listing.status_code == 200 and "客户名单.csv" in listing.text
    page = client.get(url).text
    assert "客户名单.csv" in page and 'value="customer.mobile" selected' in page
    assert client.post(url + "/check", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    page = client.get(url).text
    assert "试运行结果" in page
    assert 'id="problems"' in page and "mobile_invalid" in page and "有问题的行（共 1 行）" in page  # no download needed
    assert "批量导入" in page  # the channel by its name
    report = client.get(url + "/report")
    lines = list(load_workbook(io.BytesIO(report.content)).active.iter_rows(values_only=True))
    assert lines[1][:3] == (3, "手机", "mobile_invalid")
    assert client.post(url + "/commit", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    for _ in range(400):
        if "已完成" in client.get(url).text:
            break
        time.sleep(0.05)
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 2
        purposes = set(s.scalars(select(ConsentRecord.purposes)))
    assert purposes == {"service,contract"}  # one record per archive, the ticked purposes
    assert "客户服务；合同履行" in client.get(url).text
    rejects = client.get(url + "/rejects?fmt=csv")
    assert rejects.status_code == 200 and rows[1][0] in rejects.content.decode("utf-8-sig")
    assert client.post(url + "/delete", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get(url + "/rejects").status_code == 404


def test_pages_refuse_other_users_and_missing_csrf(client, kehu, world, tmp_path):
    csrf = signed_in(client, kehu, world, "info")
    data = write_csv(tmp_path / "x.csv", [person()]).read_bytes()
    form = {"csrf": csrf, "purposes": "service", "scope": "s", "channel": "import", "notice_version": "1.0",
            "sensitive_consent": "yes"}
    url = client.post("/imports", data=form, files={"file": ("x.csv", data, "text/csv")},
                      follow_redirects=False).headers["location"]
    no_csrf = client.post("/imports", data={**form, "csrf": "wrong"}, files={"file": ("y.csv", data, "text/csv")})
    assert no_csrf.status_code == 403
    signed_in(client, kehu, world, "alice")
    assert client.get(url).status_code == 404  # someone else's job does not exist for alice
    assert client.get(url + "/report").status_code == 404
    client.cookies.clear()
    signed_in_auditor = client.get("/imports")
    assert signed_in_auditor.status_code in (200, 303)  # anonymous: the login page


def test_missing_basis_is_shown_on_the_form(client, kehu, world, tmp_path):
    csrf = signed_in(client, kehu, world, "info")
    data = write_csv(tmp_path / "x.csv", [person()]).read_bytes()
    r = client.post("/imports", data={"csrf": csrf, "channel": "import"}, files={"file": ("x.csv", data, "text/csv")})
    assert r.status_code == 422 and "请至少选择一项处理目的" in r.text and "请填写处理范围" in r.text
    assert "单独同意" in r.text


def test_likely_duplicates_panel_lists_archives_in_scope_only(client, kehu, world):
    alice, bob = world.ctx("alice"), world.ctx("bob")
    with kehu.db.transaction() as s:
        mine = customers.create(s, alice, data=customer_data(name="王小明", mobile="13912345678", city="北京市",
                                                             district="朝阳区"), reason="测试").archive_no
        theirs = customers.create(s, bob, data=customer_data(name="王晓明", mobile="13912345670"),
                                  reason="测试").archive_no
    signed_in(client, kehu, world, "alice")
    form = client.get("/customers/new").text
    assert 'hx-get="/customers/likely"' in form
    panel = client.get("/customers/likely", params={"name": "王晓鸣", "mobile": "13912345679"}).text
    assert mine in panel and theirs not in panel and "手机号仅一位不同" in panel
    place = client.get("/customers/likely", params={"name": "王小明", "city": "北京市", "district": "朝阳区"}).text
    assert mine in place and "同城同区" in place
    assert client.get("/customers/likely", params={"name": "李四"}).text.strip() == ""
    signed_in(client, kehu, world, "info")
    both = client.get("/customers/likely", params={"name": "王小明", "mobile": "13912345671"}).text
    assert mine in both and theirs in both


def test_ending_a_job_while_it_is_committed_is_refused_on_its_page(client, kehu, world, tmp_path, monkeypatch):
    csrf = signed_in(client, kehu, world, "info")
    data = write_csv(tmp_path / "z.csv", [person()]).read_bytes()
    form = {"csrf": csrf, "purposes": "service", "scope": "s", "channel": "import", "notice_version": "1.0",
            "sensitive_consent": "yes"}
    url = client.post("/imports", data=form, files={"file": ("z.csv", data, "text/csv")},
                      follow_redirects=False).headers["location"]
    with committing(monkeypatch, url.rsplit("/", 1)[1]):
        r = client.post(url + "/delete", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 409 and "导入正在进行" in r.text and "z.csv" in r.text  # the job page, with the reason
    assert client.post(url + "/delete", data={"csrf": csrf}, follow_redirects=False).status_code == 303
