"""Bulk import: mapping, dry run with the archive's own validation, commit, rejects, upsert, rights, legal basis."""
from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from kehu.audit.models import AuditEntry
from kehu.catalog.vault import Vault
from kehu.customers import service as customers
from kehu.customers.models import Customer, History
from kehu.errors import Conflict, Forbidden, ValidationFailed
from kehu.imports import reports, service
from kehu.imports.models import ImportIssue, ImportJob
from tests.fixtures.world import customer_data, role_user
from tests.imports.conftest import BASIS, HEADER, person, write_csv


def count(kehu) -> int:
    with kehu.db.reader() as s:
        return s.scalar(select(func.count()).select_from(Customer))


def test_headers_are_mapped_from_labels_and_synonyms(importer, tmp_path):
    path = write_csv(tmp_path / "a.csv", [person()], header=["姓名", "手机号", "移动电话", "身份证", "地址", "联系人手机",
                                                              "注册资本", "不知道的列", "档案编号"])
    job_id, _ = importer().start(path)
    with importer().kehu.db.reader() as s:
        header, columns = service.layout(s.get(ImportJob, job_id))
    assert columns == {0: "customer.name", 1: "customer.mobile", 3: "customer.id_number", 4: "customer.street",
                       5: "contact.mobile", 6: "customer.registered_capital", 8: "archive_no"}


def test_dry_run_reports_the_archives_own_codes_and_writes_nothing(importer, kehu, tmp_path):
    rows = [person(), person(mobile="12345", email="not-an-email"), person(street=None), person(id_number="110105197001010000"),
            person()]
    path = write_csv(tmp_path / "客户.csv", rows)
    imp = importer()
    job_id, plan = imp.run(path, dry_run=True)
    assert (plan["rows"], plan["create"], plan["reject"]) == (5, 2, 3)
    assert imp.issues(job_id, "check") == {
        (3, "手机", "mobile_invalid"), (3, "电子邮箱", "email_invalid"), (4, "街道地址", "required"),
        (5, "身份证号", "id_checksum")}
    assert count(kehu) == 0
    with kehu.db.reader() as s:
        job = s.get(ImportJob, job_id)
        assert job.status == "checked" and job.checkpoint == 0


def test_commit_writes_valid_rows_and_keeps_rejects_with_original_columns(importer, kehu, tmp_path):
    bad = person(mobile="12345")
    formula = person(name="=CMD|' /C calc'!A0")
    path = write_csv(tmp_path / "客户.csv", [person(), bad, formula, person()])
    imp = importer()
    job_id, result = imp.run(path)
    assert (result["created"], result["rejected"], result["status"]) == (3, 1, "done")
    assert count(kehu) == 3
    with kehu.db.reader() as s:
        channel = s.execute(select(Customer.source_channel).where(Customer.name == formula[0])).scalar_one()
        reasons = set(s.scalars(select(History.reason)))
        sealed = s.execute(select(ImportIssue.cells).where(ImportIssue.job_id == job_id)).scalar_one()
    assert channel == "import"  # the payload is stored as text
    assert reasons == {"批量导入 客户.csv"}
    assert bad[3].encode() not in sealed and bad[2].encode() not in sealed  # sealed
    with kehu.db.transaction() as s:
        name, data = reports.rejects(s, imp.ctx(s), job_id=job_id, fmt="csv")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0] == ["原行号", "未导入原因", *HEADER]
    assert lines[1][0] == "3" and "手机号码无效" in lines[1][1] and lines[1][2:] == bad


def test_formula_payloads_are_neutralised_in_report_and_rejects(importer, kehu, tmp_path):
    payload = "=HYPERLINK(\"http://evil\",\"x\")"
    rows = [person(name=payload, mobile="123"), person(name="+SUM(1)", street=None), person(name="@cmd", mobile="1")]
    path = write_csv(tmp_path / "f.csv", rows, header=["=1+1", *HEADER[1:]])
    imp = importer()
    job_id, _ = imp.start(path, columns={i: f"customer.{k}" for i, k in enumerate(
        ["name", "gender", "id_number", "mobile", "email", "province", "city", "district", "street", "occupation"])})
    imp.commit(job_id, path)
    with kehu.db.transaction() as s:
        _n, data = reports.rejects(s, imp.ctx(s), job_id=job_id)
    ws = load_workbook(io.BytesIO(data)).active
    cells = [c.value for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert "'=1+1" in cells and "'" + payload in cells and "'+SUM(1)" in cells and "'@cmd" in cells


def test_exact_duplicates_of_existing_archives_are_reported_per_row(importer, kehu, world, tmp_path):
    info = world.ctx("info")
    existing = customer_data()
    with kehu.db.transaction() as s:
        no = customers.create(s, info, data=existing, reason="测试").archive_no
    rows = [person(mobile=existing["mobile"]), person(id_number=existing["id_number"]), person()]
    path = write_csv(tmp_path / "d.csv", rows)
    imp = importer()
    job_id, result = imp.run(path)
    assert (result["created"], result["rejected"]) == (1, 2)
    with kehu.db.reader() as s:
        issues = {i.row_no: json.loads(i.errors) for i in s.scalars(select(ImportIssue))}
    assert issues[2][0][:2] == ["mobile", "duplicate"] and no in issues[2][0][2]
    assert issues[3][0][:2] == ["id_number", "duplicate"]


def test_upsert_by_identifier_and_archive_number_records_history_with_reason(importer, kehu, world, tmp_path):
    info = world.ctx("info")
    a = customer_data(occupation=None)
    b = customer_data()
    with kehu.db.transaction() as s:
        no_a = customers.create(s, info, data=a, reason="测试").archive_no
        no_b = customers.create(s, info, data=b, reason="测试").archive_no
    header = ["档案编号", "客户姓名", "手机号码", "职务", "详细地址"]
    rows = [["", a["name"], a["mobile"], "经理", a["street"]],  # matched by mobile: fills occupation
            [no_b, b["name"], "", "", "新街道100号"],  # by archive number: street overwritten (or kept on fill)
            ["KH20990000001", "某人", "", "", "某路1号"]]
    path = write_csv(tmp_path / "u.csv", rows, header=header)
    imp = importer()
    job_id, plan = imp.run(path, dry_run=True, on_existing="fill")
    assert (plan["update"], plan["unchanged"], plan["reject"]) == (1, 1, 1)
    assert plan["fields"] == {"occupation": {"filled": 1, "overwritten": 0}}
    assert (2 + 2, "档案编号", "archive_not_found") in imp.issues(job_id, "check")
    with kehu.db.transaction() as s:
        service.set_columns(s, imp.ctx(s), job_id=job_id, columns={0: "archive_no", 1: "customer.name",
                                                                   2: "customer.mobile", 3: "customer.occupation",
                                                                   4: "customer.street"}, on_existing="overwrite")
    assert imp.check(job_id, path)["fields"] == {"occupation": {"filled": 1, "overwritten": 0},
                                                 "street": {"filled": 0, "overwritten": 1}}
    result = imp.commit(job_id, path)
    assert (result["created"], result["updated"], result["rejected"]) == (0, 2, 1)
    assert count(kehu) == 2
    with kehu.db.reader() as s:
        got = customers.get(s, info, archive_no=no_a)
        assert got["occupation"] == "经理"
        c = s.execute(select(Customer).where(Customer.archive_no == no_b)).scalar_one()
        vault = Vault(kehu.crypto, customer_id=c.id, wrapped_dek=c.dek)
        assert vault.read(c, info.catalog.get("customer", "street")) == "新街道100号"
        changes = s.execute(select(History.field, History.reason).where(History.op == "update")).all()
    assert sorted(changes) == [("occupation", "批量导入 u.csv"), ("street", "批量导入 u.csv")]


def test_updates_need_modify_rights_on_the_fields_touched(importer, kehu, world, tmp_path):
    alice = world.ctx("alice")  # staff: modify only at levels 2 and 3
    mine = customer_data(id_number=None)
    with kehu.db.transaction() as s:
        customers.create(s, alice, data=mine, reason="测试")
    path = write_csv(tmp_path / "m.csv", [[mine["name"], "", person()[2], mine["mobile"]]],
                     header=["客户姓名", "性别", "身份证号码", "手机号码"])
    job_id, result = importer("alice").run(path, on_existing="fill")
    assert (result["updated"], result["rejected"]) == (0, 1)
    assert {c for _r, _f, c in importer("alice").issues(job_id, "commit")} == {"forbidden_modify"}


def test_level1_columns_need_declared_consent_and_the_right(importer, kehu, world, tmp_path):
    path = write_csv(tmp_path / "l1.csv", [person()])
    no_consent = service.Basis(**{**BASIS.__dict__, "sensitive_consent": False})
    with pytest.raises(ValidationFailed) as exc:
        importer().start(path, basis=no_consent)
    assert [e.code for e in exc.value.errors] == ["sensitive_consent_required"]
    role_user(kehu, world, code="l2only", scope="all", username="l2", grants=[
        (a, lvl) for a in ("view", "create") for lvl in (2, 3)])
    with pytest.raises(Forbidden) as denied:
        importer("l2").start(path)
    assert "身份证号" in denied.value.message
    incomplete = service.Basis(purposes=("service", "astrology"), scope="", channel="nowhere", notice_version="9.9",
                               sensitive_consent=True)
    with pytest.raises(ValidationFailed) as exc:
        importer().start(path, basis=incomplete)
    assert {e.field: e.code for e in exc.value.errors} == {
        "basis.purposes": "unknown_purpose", "basis.scope": "required", "basis.channel": "invalid_choice",
        "basis.notice_version": "unknown_notice"}
    assert "astrology" in next(e.message for e in exc.value.errors if e.field == "basis.purposes")
    with pytest.raises(ValidationFailed) as exc:
        importer().start(path, basis=service.Basis(**{**BASIS.__dict__, "purposes": ()}))
    assert [(e.field, e.code) for e in exc.value.errors] == [("basis.purposes", "purpose_required")]
    with pytest.raises(Exception):  # a user who may not create archives has no import at all
        importer("auditor").start(path)


def test_the_declared_basis_is_recorded_on_the_job(importer, kehu, tmp_path):
    job_id, _ = importer().run(write_csv(tmp_path / "b.csv", [person()]))
    with kehu.db.reader() as s:
        job = s.get(ImportJob, job_id)
        assert service.Basis.of(job) == BASIS
        entry = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "import.start")).scalar_one()
    assert "客户服务与回访" in entry and '"purposes": ["service", "survey"]' in entry


def test_rows_land_in_the_importers_scope(importer, kehu, world, tmp_path):
    path = write_csv(tmp_path / "s.csv", [person(), person()], header=HEADER)
    _job, result = importer("alice").run(path)
    assert result["created"] == 2
    with kehu.db.reader() as s:
        owners = set(s.execute(select(Customer.owner_id, Customer.department_id)))
    assert owners == {(world.users["alice"], world.departments["east"])}
    other = write_csv(tmp_path / "o.csv", [[*person(), world.users["bob"]]], header=[*HEADER, "负责人"])
    job_id, result = importer("alice").run(other)
    assert result["rejected"] == 1
    assert {c for _r, _f, c in importer("alice").issues(job_id, "commit")} == {"owner_out_of_scope"}


def test_the_same_file_twice_creates_no_duplicates(importer, kehu, tmp_path):
    path = write_csv(tmp_path / "twice.csv", [person() for _ in range(5)])
    imp = importer()
    first, result = imp.run(path)
    assert result["created"] == 5
    with pytest.raises(Conflict) as exc:
        imp.start(path)
    assert exc.value.code == "already_imported" and exc.value.detail["job_id"] == first
    _job, again = imp.run(path, again=True)
    assert (again["created"], again["rejected"]) == (0, 5)
    _job, upsert = imp.run(path, again=True, on_existing="overwrite")
    assert (upsert["created"], upsert["unchanged"]) == (0, 5)
    assert count(kehu) == 5


def test_saved_mappings_are_per_user_and_shared_with_the_department(importer, kehu, world, tmp_path):
    path = write_csv(tmp_path / "odd.csv", [[p[0], p[3], p[8]] for p in [person()]], header=["甲", "乙", "丙"])
    alice, alan, bob = importer("alice"), importer("alan"), importer("bob")
    with kehu.db.transaction() as s:
        service.save_mapping(s, alice.ctx(s), name="渠道表", columns={"甲": "customer.name", "乙": "customer.mobile",
                                                                       "丙": "customer.street"}, shared=True)
    job_id, result = alan.run(path, mapping_name="渠道表")  # same department
    assert result["created"] == 1
    with pytest.raises(Exception):
        bob.start(write_csv(tmp_path / "odd2.csv", [person()[:3]], header=["甲", "乙", "丙"]), mapping_name="渠道表")
    with kehu.db.transaction() as s:
        with pytest.raises(ValidationFailed):
            service.save_mapping(s, alice.ctx(s), name="坏", columns={"甲": "customer.shoe_size"})


def test_uploaded_files_are_encrypted_and_purged(importer, kehu, tmp_path):
    from datetime import timedelta

    from kehu.db import utcnow
    from kehu.imports import reading, runner

    row = person()
    path = write_csv(tmp_path / "up.csv", [row, person(mobile="1")])
    store = tmp_path / "store"
    imp = importer()
    with kehu.db.transaction() as s, open(path, "rb") as fh:
        job, _ = service.start(s, imp.ctx(s), file_name="up.csv", open_bytes=lambda: open(path, "rb"),
                               file_hash=reading.content_hash(fh), basis=BASIS, store_in=store)
        job_id, stored = job.id, job.stored_path
    raw = open(stored, "rb").read()
    assert row[0].encode() not in raw and row[2].encode() not in raw and row[3].encode() not in raw
    result = runner.commit(kehu, user_id=imp.user_id, job_id=job_id)  # reads the sealed copy
    assert (result["created"], result["rejected"]) == (1, 1)
    with kehu.db.transaction() as s:
        assert service.purge(s, kehu, now=utcnow() + timedelta(days=8)) == 1
    with kehu.db.reader() as s:
        assert s.get(ImportJob, job_id).status == "purged"
        assert s.scalar(select(func.count()).select_from(ImportIssue)) == 0
    assert not (store / f"{job_id}.enc").exists()


def test_the_dry_run_lists_likely_duplicates_as_hints(importer, kehu, world, tmp_path):
    with kehu.db.transaction() as s:
        no = customers.create(s, world.ctx("info"), data=customer_data(name="王小明", city="北京市", district="朝阳区"),
                              reason="测试").archive_no
    path = write_csv(tmp_path / "l.csv", [person(name="王晓明"), person(name="李雷")])
    job_id, plan = importer().run(path, dry_run=True)
    assert (plan["create"], plan["reject"], plan["likely"]) == (2, 0, 1)
    assert importer().issues(job_id, "check") == {(2, "整行", "likely_duplicate")}
    with kehu.db.transaction() as s:
        _n, data = reports.report(s, importer().ctx(s), job_id=job_id)
    assert no in load_workbook(io.BytesIO(data)).active.cell(2, 4).value


def consents(kehu) -> dict[str, list]:
    """Consent records by archive number."""
    from kehu.consent.models import ConsentRecord

    from types import SimpleNamespace

    out: dict[str, list] = {}
    with kehu.db.reader() as s:
        for no, record in s.execute(select(Customer.archive_no, ConsentRecord)
                                    .join(ConsentRecord, ConsentRecord.customer_id == Customer.id)):
            out.setdefault(no, []).append(SimpleNamespace(**{c.key: getattr(record, c.key)
                                                             for c in ConsentRecord.__table__.columns}))
    return out


def test_every_imported_archive_gets_the_jobs_consent_record(importer, kehu, tmp_path):
    from kehu.consent import basis

    path = write_csv(tmp_path / "c.csv", [person(), person(), person(mobile="1")])
    imp = importer()
    job_id, plan = imp.run(path, dry_run=True)
    assert plan["create"] == 2 and consents(kehu) == {}  # a dry run records nothing
    result = imp.commit(job_id, path)
    assert (result["created"], result["rejected"]) == (2, 1)
    found = consents(kehu)
    assert len(found) == 2 and all(len(r) == 1 for r in found.values())
    record = next(iter(found.values()))[0]
    assert (record.action, record.purposes, record.channel, record.notice_version, record.sensitive, record.source) == (
        "grant", "service,survey", "import", "1.0", "yes", f"import:{job_id}")
    assert record.scope == "contact,identity,location"  # the categories of the mapped columns
    assert record.recorded_by == imp.user_id and record.recorded_at is not None
    with kehu.db.reader() as s:
        ids = list(s.scalars(select(Customer.id)))
        assert basis.allowed(s, ids, "survey") == set(ids) and basis.allowed(s, ids, "marketing") == set()
        assert all(basis.in_force(s, i, basis.SENSITIVE) for i in ids)
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("consent.%"))))
    assert actions == ["consent.grant_many"]


def test_updated_archives_get_a_consent_record_unchanged_ones_none(importer, kehu, world, tmp_path):
    info = world.ctx("info")
    a, b = customer_data(occupation=None), customer_data()
    with kehu.db.transaction() as s:
        no_a = customers.create(s, info, data=a, reason="测试").archive_no
        no_b = customers.create(s, info, data=b, reason="测试").archive_no
    path = write_csv(tmp_path / "u.csv", [[a["name"], a["mobile"], "经理"], [b["name"], b["mobile"], b["occupation"]]],
                     header=["客户姓名", "手机号码", "职务"])
    job_id, result = importer().run(path, on_existing="fill")
    assert (result["updated"], result["unchanged"]) == (1, 1)
    found = consents(kehu)
    assert len(found[no_a]) == 2 and len(found[no_b]) == 1  # the one given at entry, plus the import's
    latest = max(found[no_a], key=lambda r: r.recorded_at)
    assert (latest.purposes, latest.source, latest.scope) == ("service,survey", f"import:{job_id}", "contact,identity")


def test_minors_need_the_declared_guardian_consent_and_a_guardian_per_row(importer, kehu, tmp_path):
    from datetime import date, timedelta

    from kehu.consent import basis
    from tests.fixtures.world import id_number

    born = date.today() - timedelta(days=365 * 10)
    child = lambda n, *guardian: [*person(id_number=id_number(n, born=born)), *guardian]  # noqa: E731
    rows = [[*person(), "", ""], child(801, "王芳", "母亲"), child(802, "王芳", ""), child(803, "李四", "叔叔")]
    header = [*HEADER, "监护人", "与监护人关系"]
    path = write_csv(tmp_path / "minors.csv", rows, header=header)
    with pytest.raises(ValidationFailed) as exc:  # guardian columns without the declaration: refused
        importer().start(path)
    assert [(e.field, e.code) for e in exc.value.errors] == [("basis.guardian_consent", "guardian_consent_required")]
    plain = write_csv(tmp_path / "plain.csv", [r[:len(HEADER)] for r in rows])
    job_id, result = importer().run(plain)  # no declaration: every minor refused on the birth date
    assert (result["created"], result["rejected"]) == (1, 3)
    assert importer().issues(job_id, "commit") == {(n, "出生日期", "guardian_consent_required") for n in (3, 4, 5)}
    imp = importer()
    job_id, result = imp.run(path, basis=service.Basis(**{**BASIS.__dict__, "guardian_consent": True}), again=True)
    assert (result["created"], result["rejected"]) == (1, 3)  # row 2 is now a duplicate of the first import
    with kehu.db.reader() as s:
        issues = {i.row_no: json.loads(i.errors) for i in s.scalars(select(ImportIssue).where(
            ImportIssue.job_id == job_id))}
    assert issues[4] == [["birth_date", "guardian_consent_required",
                          "不满十四周岁的未成年人须取得其父母或其他监护人的同意：本行缺少监护人姓名或与监护人关系"]]
    assert issues[5][0][:2] == ["consent.guardian_relation", "invalid_choice"]
    assert issues[2][0][1] == "duplicate"
    (no,) = [n for n, records in consents(kehu).items() if records[0].guardian_relation]
    record = consents(kehu)[no][0]
    assert (record.guardian_relation, record.source, record.sensitive) == ("mother", f"import:{job_id}", "yes")
    assert "王芳".encode() not in record.guardian_name  # sealed with the customer's key
    with kehu.db.reader() as s:
        assert basis.guardian_recorded(s, s.execute(select(Customer.id).where(Customer.archive_no == no)).scalar_one())
    with kehu.db.transaction() as s:
        _n, data = reports.rejects(s, imp.ctx(s), job_id=job_id, fmt="csv")
    text = data.decode("utf-8-sig")
    assert "与监护人关系：可选值" in text and "出生日期：不满十四周岁" in text
