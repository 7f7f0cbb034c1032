"""Customer export: only what the exporter may see, as the screen shows it; watermarked, neutralised, audited."""
from __future__ import annotations

from datetime import date

import pytest

from kehu.customers import service as customers
from kehu.web import view
from tests.exports.conftest import audit_rows, export, person, read_csv, read_xlsx
from tests.fixtures.world import create_customer

ALL = ("view", "reveal", "create", "modify", "delete", "export")


def screen(kehu, world, user: str, archive_no: str, fields: list[str]) -> list[str]:
    """What the archive page shows this user for these fields ('' for hidden or empty)."""
    ctx = world.ctx(user)
    with kehu.db.reader() as s:
        data = customers.get(s, ctx, archive_no=archive_no)
    specs = [ctx.catalog.get("customer", n) for n in fields]
    return ["" if c.state == "hidden" or c.text is None else c.text
            for c in view.cells(ctx.principal, specs, data, minor=data["minor"])]


@pytest.fixture
def book(kehu, world):
    """Customers of alice (华东组) and carol (客服部) with every kind of field filled."""
    alice, carol = world.ctx("alice"), world.ctx("carol")
    extra = {"bank_account": "6222020200112233445", "credit_rating": "AA", "notes": "喜欢靠窗", "region": "华东"}
    nos = [create_customer(kehu, as_user=alice, **extra), create_customer(kehu, as_user=alice, kind="organisation"),
           create_customer(kehu, as_user=carol, **extra)]
    return {"alice": nos[:2], "carol": nos[2:]}


def _check_as_screen(kehu, world, client, api, user: str, book) -> list[str]:
    fields = [f["name"] for f in client.get("/api/v1/exports/options", headers=api(user)).json()["fields"]]
    r = export(client, api(user), fields=fields)
    assert r.status_code == 200, r.text
    _mark, header, rows = read_csv(r.content)
    assert header == [world.ctx(user).catalog.get("customer", n).label for n in fields]
    for row in rows:
        no = row[fields.index("archive_no")]
        assert row == screen(kehu, world, user, no, fields), (user, no)
    return fields


def test_head_exports_levels_2_and_3_as_shown_on_screen(kehu, world, client, api, book):
    fields = _check_as_screen(kehu, world, client, api, "head", book)
    assert "mobile" in fields and "id_number" not in fields and "bank_account" not in fields  # export only 2, 3


def test_masked_fields_stay_masked_in_the_file(kehu, world, client, api, book):
    user = person(kehu, world, username="masker", capabilities=[],
                  grants=[(a, lvl) for a in ("view", "export") for lvl in (1, 2, 3)])
    fields = _check_as_screen(kehu, world, client, api, user, book)
    r = export(client, api(user), fields=["archive_no", "mobile", "id_number", "bank_account"])
    _mark, _h, rows = read_csv(r.content)
    assert all("*" in row[1] and "*" in row[2] for row in rows if row[2])
    assert "6222020200112233445" not in r.content.decode("utf-8-sig")
    assert {"mobile", "id_number"} <= set(fields)


def test_hidden_fields_are_neither_offered_nor_exportable(kehu, world, client, api, book):
    user = person(kehu, world, username="low", capabilities=[],
                  grants=[(a, lvl) for a in ("view", "export") for lvl in (2, 3)])
    options = client.get("/api/v1/exports/options", headers=api(user)).json()
    assert not any(f["level"] == 1 for f in options["fields"])
    r = export(client, api(user), fields=["archive_no", "id_number"])
    assert r.status_code == 403 and r.json()["code"] == "forbidden_export"
    _check_as_screen(kehu, world, client, api, user, book)


def test_level1_masked_without_plaintext_request(kehu, world, client, api, book):
    _check_as_screen(kehu, world, client, api, "info", book)
    r = export(client, api("info"), fields=["archive_no", "id_number", "bank_account"])
    _mark, _h, rows = read_csv(r.content)
    assert rows and all(row[2] == "" or "*" in row[2] for row in rows)


def test_no_export_grant_is_refused(kehu, world, client, api, book):
    for user in ("alice", "admin", "auditor"):
        r = export(client, api(user), fields=["archive_no"])
        assert r.status_code == 403, user
        assert client.get("/api/v1/exports/options", headers=api(user)).status_code == 403
    assert [r.actor_name for r in audit_rows(kehu, "export.start") if r.outcome == "denied"] == \
        ["alice", "admin", "auditor"]


def test_out_of_scope_customers_are_never_in_the_file(kehu, world, client, api, book):
    r = export(client, api("head"), fields=["archive_no", "name"])
    _mark, _h, rows = read_csv(r.content)
    assert sorted(row[0] for row in rows) == sorted(book["alice"])  # carol's customer is outside 销售部
    own = person(kehu, world, username="own_exp", capabilities=[], scope="own",
                 grants=[(a, lvl) for a in ("view", "export") for lvl in (2, 3)])
    _mark, _h, rows = read_csv(export(client, api(own), fields=["archive_no"]).content)
    assert rows == []


def test_same_filters_search_and_sort_as_the_list(kehu, world, client, api, book):
    alice = world.ctx("alice")
    create_customer(kehu, as_user=alice, name="王小明", region="华北")
    for params, body in (({"region": "华东"}, {"filters": {"region": "华东"}}),
                         ({"kind": "organisation"}, {"filters": {"kind": "organisation"}}),
                         ({"q": "wxm"}, {"q": "wxm"}),
                         ({"sort": "name"}, {"sort": "name"})):
        listed = client.get("/api/v1/customers", params=params, headers=api("info")).json()["items"]
        _mark, _h, rows = read_csv(export(client, api("info"), fields=["archive_no"], **body).content)
        assert [row[0] for row in rows] == [i["archive_no"] for i in listed], params


def test_minors_personal_data_is_left_out_without_level1_export(kehu, world, client, api):
    alice = world.ctx("alice")
    child = create_customer(kehu, as_user=alice, birth_date=date(date.today().year - 8, 1, 1).isoformat(),
                            id_number=None)
    _mark, _h, rows = read_csv(export(client, api("head"), fields=["archive_no", "mobile", "region"]).content)
    row = next(r for r in rows if r[0] == child)
    assert row[1] == ""  # a minor's mobile counts as level 1: head may not export level 1
    _mark, _h, rows = read_csv(export(client, api("info"), fields=["archive_no", "mobile"]).content)
    assert "*" in next(r for r in rows if r[0] == child)[1]  # masked for whoever may export level 1


def test_watermark_in_csv(kehu, world, client, api, book):
    r = export(client, api("info"), fields=["archive_no"], purpose="年度审计抽查")
    mark, _h, _rows = read_csv(r.content)
    assert mark.startswith("导出水印") and "Info（info）" in mark and "年度审计抽查" in mark
    assert r.headers["x-export-id"] in mark and "UTC+8" in mark
    assert r.content.startswith(b"\xef\xbb\xbf") and "attachment" in r.headers["content-disposition"]


def test_watermark_in_xlsx_header_and_properties(kehu, world, client, api, book):
    r = export(client, api("head"), fields=["archive_no", "name", "mobile"], format="xlsx", purpose="展会邀请")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    wb, rows = read_xlsx(r.content)
    assert "Head（head）" in rows[0][0].value and "展会邀请" in rows[0][0].value
    assert [c.value for c in rows[1]] == ["档案编号", "姓名/名称", "手机"]
    assert sorted(row[0].value for row in rows[2:]) == sorted(book["alice"])
    assert "展会邀请" in wb.properties.description and wb.properties.creator == "Head（head）"
    csv_rows = read_csv(export(client, api("head"), fields=["archive_no", "name", "mobile"]).content)[2]
    assert sorted([c.value for c in row] for row in rows[2:]) == sorted(csv_rows)


def test_purpose_is_mandatory_and_every_problem_is_reported(kehu, world, client, api, book):
    r = export(client, api("info"), fields=["archive_no", "nope"], purpose=" ", use="spying")
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == ["fields", "purpose", "use"]
    assert audit_rows(kehu, "export.start") == []


FORMULAS = ["=1+2", "+SUM(A1)", "-3+4", "@cmd"]


def test_every_formula_start_gets_a_quote():
    from kehu.exports.cells import safe

    for text in ("=1+2", "+1", "-1", "@A1", "\tx", "\rx", "\x01=1"):
        assert safe(text).startswith("'"), text
    assert safe("普通文本 = 1") == "普通文本 = 1" and safe(None) == "" and safe(12) == "12"


def test_formula_payloads_are_neutralised_in_csv_and_xlsx(kehu, world, client, api):
    alice = world.ctx("alice")
    nos = [create_customer(kehu, as_user=alice, name=f"客户{i}", notes=text, occupation="=HYPERLINK(\"x\")")
           for i, text in enumerate(FORMULAS)]
    create_customer(kehu, as_user=alice, name="=cmd|' /C calc'!A0")
    fields = ["archive_no", "name", "notes", "occupation"]
    _mark, header, rows = read_csv(export(client, api("info"), fields=fields, purpose="=evil()").content)
    assert _mark.startswith("导出水印")
    by_no = {row[0]: row for row in rows}
    for no, text in zip(nos, FORMULAS):
        assert by_no[no][2] == "'" + text and by_no[no][3] == "'=HYPERLINK(\"x\")"
    assert any(row[1] == "'=cmd|' /C calc'!A0" for row in rows)
    wb, xrows = read_xlsx(export(client, api("info"), fields=fields, format="xlsx", purpose="=evil()").content)
    cells = [c for row in xrows for c in row if c.value is not None]
    assert all(c.data_type == "s" for c in cells)  # nothing became a formula
    assert all(not str(c.value).startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert "'=1+2" in [c.value for c in cells] and "'=cmd|' /C calc'!A0" in [c.value for c in cells]


def test_every_export_is_audited_with_row_count_and_fields_never_values(kehu, world, client, api, book):
    r = export(client, api("head"), fields=["archive_no", "name", "mobile"])
    assert r.status_code == 200
    start, finish = audit_rows(kehu, "export.start")[-1], audit_rows(kehu, "export.finish")[-1]
    assert start.fields == finish.fields == "customer.archive_no,customer.name,customer.mobile"
    assert start.reason == "季度回访名单" and start.target_id == finish.target_id == r.headers["x-export-id"]
    assert '"rows": 2' in finish.detail and '"completed": true' in finish.detail
    listed = client.get(f"/api/v1/exports/{r.headers['x-export-id']}", headers=api("head")).json()
    assert listed["status"] == "done" and listed["rows"] == 2
    text = " ".join(str(v) for row in audit_rows(kehu, "export.start") + audit_rows(kehu, "export.finish")
                    for v in row)
    _m, _h, rows = read_csv(r.content)
    assert not any(row[2] in text or row[1] in text for row in rows)


def test_marketing_exports_are_filtered_by_consent(kehu, world, client, api, book):
    from kehu.consent import allows
    from kehu.exports import hooks

    assert hooks.consent_check() is allows  # installed at start-up by kehu.consent
    hooks.set_consent_check(None)
    r = export(client, api("info"), fields=["archive_no"], use="marketing")
    assert r.status_code == 409 and r.json()["code"] == "consent_check_unavailable"
    refused = set(book["alice"][:1])
    with kehu.db.reader() as s:
        from kehu.customers.models import Customer
        from sqlalchemy import select

        ids = set(s.execute(select(Customer.id).where(Customer.archive_no.in_(refused))).scalars())
    asked = []
    hooks.set_consent_check(lambda session, cid, purpose: asked.append(purpose) or cid not in ids)
    try:
        r = export(client, api("info"), fields=["archive_no"], use="marketing")
    finally:
        hooks.set_consent_check(allows)
    _m, _h, rows = read_csv(r.content)
    *rows, footer = rows
    assert {row[0] for row in rows} == set(book["alice"] + book["carol"]) - refused
    assert footer == ["另有 1 位客户因没有「营销推广」用途的同意记录（或已撤回）未导出"]
    assert set(asked) == {"marketing"} and len(asked) == 3
    done = client.get(f"/api/v1/exports/{r.headers['x-export-id']}", headers=api("info")).json()
    assert done["excluded"] == 1 and done["rows"] == 2
    assert '"excluded": 1' in audit_rows(kehu, "export.finish")[-1].detail
    # other purposes are not consent-bound: the check is not asked
    asked.clear()
    assert export(client, api("info"), fields=["archive_no"], use="service").status_code == 200 and not asked
