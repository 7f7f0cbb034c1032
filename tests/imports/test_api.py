"""The JSON API of the import: upload with the basis, mapping, dry run and its report, commit, rejects, rights."""
from __future__ import annotations

import io
import json
import time

from openpyxl import load_workbook
from sqlalchemy import func, select

from kehu.audit.models import AuditEntry
from kehu.consent.models import ConsentRecord
from kehu.customers.models import Customer
from kehu.imports.models import ImportJob
from tests.fixtures.world import role_user
from tests.imports.conftest import committing, person, write_csv

BASIS = {"purposes": ["service", "marketing"], "purpose": "会员服务", "scope": "姓名、联系方式、地址",
         "channel": "event", "notice_version": "1.0", "sensitive_consent": True}


def upload(client, headers, data: bytes, *, basis=BASIS, name: str = "客户.csv", **form):
    fields = {**form, **({"basis": basis if isinstance(basis, str) else json.dumps(basis)} if basis is not None else {})}
    return client.post("/api/v1/imports", headers=headers, data=fields, files={"file": (name, data, "text/csv")})


def jobs(kehu) -> int:
    with kehu.db.reader() as s:
        return s.scalar(select(func.count()).select_from(ImportJob))


def test_upload_map_dry_run_commit_and_files(client, api, kehu, world, tmp_path):
    h = api("info")
    rows = [person(), person(mobile="12345"), person(), person(email="bad@")]
    data = write_csv(tmp_path / "a.csv", rows, encoding="gbk").read_bytes()
    r = upload(client, h, data)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    job = r.json()
    url = r.headers["location"]
    assert url == f"/api/v1/imports/{job['id']}" and job["status"] == "uploaded"
    assert job["basis"]["purposes"] == ["service", "marketing"] and job["basis"]["channel"] == "event"
    preview = {c["header"]: (c["target"], c["label"]) for c in job["mapping"]}
    assert preview["手机号码"] == ("customer.mobile", "手机") and preview["职务"][0] == "customer.occupation"
    assert upload(client, h, data).status_code == 200  # the same unfinished file: the same job
    columns = {c["index"]: c["target"] for c in job["mapping"] if c["target"] and c["header"] != "职务"}
    r = client.put(url + "/mapping", headers=h, json={"columns": columns, "save_as": "活动名单"})
    assert r.status_code == 200, r.text
    assert "职务" not in {c["header"] for c in r.json()["mapping"] if c["target"]}
    r = client.post(url + "/dry-run?limit=1", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["plan"]["rows"], body["plan"]["create"], body["plan"]["reject"]) == (4, 2, 2)
    page = body["report"]
    assert (page["total"], page["next_after"]) == (2, 3)
    assert page["items"] == [{"row": 3, "problems": [{"field": "mobile", "label": "手机", "code": "mobile_invalid",
                                                      "message": page["items"][0]["problems"][0]["message"],
                                                      "kind": "error"}]}]
    rest = client.get(url + "/report", headers=h, params={"after": 3}).json()
    assert [i["row"] for i in rest["items"]] == [5] and rest["next_after"] is None
    assert rest["items"][0]["problems"][0]["code"] == "email_invalid"
    sheet = client.get(url + "/report.xlsx", headers=h)
    assert sheet.status_code == 200 and sheet.headers["cache-control"] == "no-store"
    lines = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert lines[1][:3] == (3, "手机", "mobile_invalid")
    r = client.post(url + "/commit", headers=h)
    assert r.status_code == 202 and r.json()["running"] is True
    for _ in range(400):
        state = client.get(url, headers=h).json()
        if state["status"] == "done":
            break
        time.sleep(0.05)
    assert (state["status"], state["created"], state["rejected"]) == ("done", 2, 2)
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 2
        assert list(s.scalars(select(ConsentRecord.purposes))) == ["service,marketing"] * 2
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("import.%"))))
    assert {"import.start", "import.mapping", "import.mapping.save", "import.check", "import.report",
            "import.commit"} <= actions
    rejects = client.get(url + "/rejects", headers=h, params={"format": "csv"})
    assert rejects.status_code == 200 and rejects.headers["cache-control"] == "no-store"
    assert rows[1][0] in rejects.content.decode("utf-8-sig")
    again = upload(client, h, data)
    assert again.status_code == 409 and again.json()["code"] == "already_imported"
    assert again.json()["job_id"] == job["id"]
    assert [j["id"] for j in client.get("/api/v1/imports", headers=h).json()["items"]] == [job["id"]]
    assert client.delete(url, headers=h).json() == {"id": job["id"], "status": "purged"}
    assert client.get(url, headers=h).status_code == 404


def test_another_users_job_is_404_and_roles_without_the_right_are_refused(client, api, kehu, world, tmp_path):
    data = write_csv(tmp_path / "b.csv", [person()]).read_bytes()
    url = upload(client, api("info"), data).headers["location"]
    alice = api("alice")  # a staff member who may import, but not this job
    for method, path in (("GET", ""), ("POST", "/dry-run"), ("POST", "/commit"), ("GET", "/report"),
                         ("GET", "/report.xlsx"), ("GET", "/rejects"), ("DELETE", "")):
        r = client.request(method, url + path, headers=alice)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, path, r.text)
    assert client.put(url + "/mapping", headers=alice, json={"columns": {"0": "customer.name"}}).status_code == 404
    with kehu.db.reader() as s:  # each refused attempt is audited
        denied = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied"))
    assert denied >= 8
    before = jobs(kehu)
    r = upload(client, api("auditor"), data)  # may not create archives: no imports at all
    assert r.status_code == 404
    assert client.get("/api/v1/imports", headers=api("auditor")).status_code == 404
    role_user(kehu, world, code="l2only", scope="all", username="l2", grants=[
        (a, lvl) for a in ("view", "create") for lvl in (2, 3)])
    r = upload(client, api("l2"), data)  # the file has an ID-number column: level 1
    assert r.status_code == 403 and r.json()["code"] == "forbidden_create" and "身份证号" in r.json()["message"]
    assert client.post("/api/v1/imports", data={"basis": json.dumps(BASIS)},
                       files={"file": ("x.csv", data, "text/csv")}).status_code == 401
    assert jobs(kehu) == before


def test_a_bad_basis_is_422_naming_the_field(client, api, kehu, world, tmp_path):
    h = api("info")
    data = write_csv(tmp_path / "c.csv", [person()]).read_bytes()

    def errors(**kw) -> dict[str, str]:
        r = upload(client, h, data, **kw)
        assert r.status_code == 422, r.text
        return {e["field"]: e["code"] for e in r.json()["errors"]}

    assert errors(basis=None) == {"basis": "missing"}
    assert errors(basis="{not json") == {"basis": "json_invalid"}
    assert errors(basis={**BASIS, "sensitive_consent": "maybe", "shoe_size": 42}) == {
        "basis.sensitive_consent": "bool_parsing", "basis.shoe_size": "extra_forbidden"}
    assert errors(basis={**BASIS, "purposes": ["service", "astrology"], "notice_version": "9.9", "scope": ""}) == {
        "basis.purposes": "unknown_purpose", "basis.notice_version": "unknown_notice", "basis.scope": "required"}
    assert errors(basis={**BASIS, "purposes": []}) == {"basis.purposes": "purpose_required"}
    assert errors(basis={**BASIS, "sensitive_consent": False}) == {"basis.sensitive_consent": "sensitive_consent_required"}
    r = upload(client, h, data, basis={**BASIS, "purposes": ["astrology"]})
    assert "astrology" in r.json()["errors"][0]["message"]  # a Chinese message naming the unknown code
    r = client.post("/api/v1/imports", headers=h, files={"basis": (None, json.dumps(BASIS))})  # no file part
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = client.post("/api/v1/imports", headers={**h, "content-type": "application/json"}, content=b"{}")
    assert r.status_code == 422 and r.json()["errors"][0] == {"field": "file", "code": "upload_invalid",
                                                              "message": "请以 multipart/form-data 格式上传文件"}
    assert jobs(kehu) == 0
    url = upload(client, h, data).headers["location"]
    r = client.put(url + "/mapping", headers=h, json={"columns": {"0": "customer.shoe_size"}})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "mapping_invalid"
    r = client.put(url + "/mapping", headers=h, json={"columns": {"0": "customer.name", "11": "consent.guardian_name"}})
    assert r.status_code == 422  # no such column
    assert client.post(url + "/commit", headers=h).json()["code"] == "check_first"


def test_a_job_being_committed_cannot_be_ended(client, api, kehu, world, tmp_path, monkeypatch):
    h = api("info")
    r = upload(client, h, write_csv(tmp_path / "b.csv", [person()], encoding="utf-8").read_bytes())
    assert r.status_code == 201, r.text
    job_id, url = r.json()["id"], r.headers["location"]
    with committing(monkeypatch, job_id):
        refused = client.delete(url, headers=h)
        assert refused.status_code == 409 and refused.json()["code"] == "import_running"
        with kehu.db.reader() as s:
            assert s.get(ImportJob, job_id).status != "purged"  # nothing deleted
    assert client.delete(url, headers=h).json() == {"id": job_id, "status": "purged"}  # finished: it can end
