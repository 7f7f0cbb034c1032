"""Order attachments: type by content, size limit, encrypted on disk, served only with the order's rights, audited."""
from __future__ import annotations

from pathlib import Path

from kehu.orders import attachments
from tests.fixtures.world import create_customer
from tests.orders.conftest import audit_rows
from tests.orders.test_orders import order_body

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nSECRET-CONTRACT-TEXT trailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SVG = b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"


def _order(kehu, world, client, api, user: str = "alice") -> str:
    no = create_customer(kehu, as_user=world.ctx(user))
    r = client.post("/api/v1/orders", json=order_body(no), headers=api(user))
    assert r.status_code == 201, r.text
    return r.json()["order_no"]


def _upload(client, headers, order_no: str, name: str, content: bytes):
    return client.post(f"/api/v1/orders/{order_no}/attachments", files={"file": (name, content, "text/html")},
                       headers=headers)


def test_detect_uses_the_content_not_the_name():
    assert attachments.detect(PDF) == "application/pdf" and attachments.detect(PNG) == "image/png"
    assert attachments.detect("合同条款\n第一条".encode()) == "text/plain"
    for refused in (EXE, HTML, SVG, b"\x7fELF\x02\x01\x01" + b"\x00" * 60, b"\xff\xfe\x00\x00binary\x00"):
        assert attachments.detect(refused) is None
    assert attachments.safe_filename('../../etc/"pass\r\nwd".pdf') == "passwd.pdf"
    assert attachments.safe_filename("C:\\合同\\正本.pdf") == "正本.pdf" and attachments.safe_filename("") == "attachment"


def test_upload_list_download_delete(kehu, world, client, api, catalogue):
    order_no = _order(kehu, world, client, api)
    r = _upload(client, api("alice"), order_no, "合同正本.html", PDF)  # the name and sent type are ignored
    assert r.status_code == 201, r.text
    att = r.json()
    assert (att["filename"], att["content_type"], att["size_bytes"]) == ("合同正本.html", "application/pdf", len(PDF))
    listed = client.get(f"/api/v1/orders/{order_no}/attachments", headers=api("alice")).json()
    assert [i["id"] for i in listed["items"]] == [att["id"]] and listed["downloadable"] is True
    r = client.get(f"/api/v1/orders/{order_no}/attachments/{att['id']}", headers=api("alice"))
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%90%88" in r.headers["content-disposition"]
    assert client.delete(f"/api/v1/orders/{order_no}/attachments/{att['id']}", headers=api("alice")).status_code == 403
    stored = Path(kehu.settings.var_dir) / "attachments" / f"{att['id']}.bin"
    assert stored.exists()
    r = client.delete(f"/api/v1/orders/{order_no}/attachments/{att['id']}", headers=api("head"))
    assert r.status_code == 200, r.text
    assert not stored.exists()
    assert client.get(f"/api/v1/orders/{order_no}/attachments/{att['id']}", headers=api("head")).status_code == 404
    for action in ("order_attachment.create", "order_attachment.download", "order_attachment.delete"):
        rows = [a for a in audit_rows(kehu, action) if a.outcome == "ok"]
        assert len(rows) == 1 and "order_attachment.filename" in rows[0].fields, action
        assert "合同正本" not in str(rows[0].detail) + str(rows[0].fields)


def test_refused_by_type_and_by_size_with_field_and_code(kehu, world, client, api, catalogue):
    order_no = _order(kehu, world, client, api)
    for name, content in (("a.pdf", EXE), ("a.txt", HTML), ("logo.png", SVG)):
        r = _upload(client, api("alice"), order_no, name, content)
        assert r.status_code == 422, name
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("file", "type_not_allowed")]
    kehu.settings.attachment_max_bytes = 64
    r = _upload(client, api("alice"), order_no, "big.pdf", PDF + b"x" * 64)
    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("file", "too_large")]
    r = client.post(f"/api/v1/orders/{order_no}/attachments", headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "required"
    assert client.get(f"/api/v1/orders/{order_no}/attachments", headers=api("alice")).json()["items"] == []
    folder = Path(kehu.settings.var_dir) / "attachments"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_content_on_disk_is_not_plaintext(kehu, world, client, api, catalogue):
    order_no = _order(kehu, world, client, api)
    text = "付款账号 6222020200112233445 合同机密条款".encode()
    att = _upload(client, api("alice"), order_no, "terms.txt", text).json()
    blob = (Path(kehu.settings.var_dir) / "attachments" / f"{att['id']}.bin").read_bytes()
    assert text not in blob and b"6222020200112233445" not in blob and len(blob) > len(text)
    r = client.get(f"/api/v1/orders/{order_no}/attachments/{att['id']}", headers=api("alice"))
    assert r.content == text and r.headers["content-type"].startswith("text/plain")


def test_never_served_without_rights(kehu, world, client, api, catalogue, public_only):
    order_no = _order(kehu, world, client, api)
    att = _upload(client, api("alice"), order_no, "c.pdf", PDF).json()
    url = f"/api/v1/orders/{order_no}/attachments/{att['id']}"
    for user in ("alan", "bob", "admin", "auditor"):  # other staff, outside the scope, no customer rights
        assert client.get(url, headers=api(user)).status_code == 404, user
        assert client.get(f"/api/v1/orders/{order_no}/attachments", headers=api(user)).status_code == 404, user
        assert _upload(client, api(user), order_no, "x.pdf", PDF).status_code == 404, user
    # in scope, but the attachment's level-2 name is hidden for this role: listed without it, never served
    listed = client.get(f"/api/v1/orders/{order_no}/attachments", headers=api(public_only))
    assert listed.status_code == 200 and listed.json()["downloadable"] is False
    assert "filename" not in listed.json()["items"][0]
    assert client.get(url, headers=api(public_only)).status_code == 404
    assert client.get(url, headers=api("head")).content == PDF
    denied = [a for a in audit_rows(kehu, "order_attachment.download") if a.outcome == "denied"]
    assert len(denied) == 5
