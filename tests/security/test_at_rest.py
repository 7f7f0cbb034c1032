"""No plaintext of level-1 (or other encrypted) values anywhere in the store: files, WAL, history, audit."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from kehu.customers import children, service
from tests.fixtures.world import customer_data, id_number

SECRETS = {
    "id_number": id_number(777, ),
    "bank_account": "6222020200112233445",
    "allergies": "青霉素过敏史机密",
    "annual_income": "年收入约三百万元",
    "credit_rating": "AAA级内部评级",
    "geo_location": "39.908823,116.397470",
}
ENCRYPTED_L2 = {"mobile": "13987654321", "email": "secret.person@example.cn", "street": "机密街道88号"}


def _populate(kehu, world) -> str:
    ctx = world.ctx("info")
    with kehu.db.transaction() as s:
        c = service.create(s, ctx, data=customer_data(**SECRETS, **ENCRYPTED_L2), reason="录入")
        no = c.archive_no
    with kehu.db.transaction() as s:
        service.update(s, ctx, archive_no=no, data={"bank_account": "6222020200998877665"}, reason="换卡")
        children.add(s, ctx, archive_no=no, entity="relation",
                     data={"kind": "spouse", "name": "李四", "mobile": "13811112222"}, reason="补充")
    with kehu.db.transaction() as s:
        service.get(s, ctx, archive_no=no)
        service.reveal(s, ctx, archive_no=no, fields=list(SECRETS), reason="核对")
        service.history(s, ctx, archive_no=no)
    return no


def _needles() -> list[bytes]:
    values = list(SECRETS.values()) + list(ENCRYPTED_L2.values()) + ["6222020200998877665", "13811112222"]
    out = []
    for v in values:
        out += [v.encode("utf-8"), v.encode("utf-16-le")]
    return out


def test_no_plaintext_in_database_files(kehu, world, db_url):
    _populate(kehu, world)
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        blobs = [p.read_bytes() for p in (path, Path(str(path) + "-wal")) if p.exists()]
        assert blobs and sum(len(b) for b in blobs) > 0
    else:
        blobs = []
        with kehu.db.engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    blobs.append(repr(tuple(row)).encode("utf-8", "replace"))
                    blobs += [bytes(v) for v in row if isinstance(v, (bytes, memoryview))]
    haystack = b"\n".join(blobs)
    for needle in _needles():
        assert needle not in haystack, needle


def test_ciphertext_is_bound_to_its_row(kehu, world):
    """A ciphertext copied to another customer's row does not decrypt (AAD = table|field|row)."""
    import pytest

    from kehu.customers.models import Customer
    from kehu.security.aead import DecryptionFailed

    ctx = world.ctx("info")
    with kehu.db.transaction() as s:
        a = service.create(s, ctx, data=customer_data(), reason="x")
        b = service.create(s, ctx, data=customer_data(), reason="x")
        a_no, b_no = a.archive_no, b.archive_no
    with kehu.db.transaction() as s:
        ca = s.query(Customer).filter_by(archive_no=a_no).one()
        cb = s.query(Customer).filter_by(archive_no=b_no).one()
        cb.mobile = ca.mobile  # attacker swaps ciphertexts
    with kehu.db.transaction() as s, pytest.raises(DecryptionFailed):
        service.get(s, ctx, archive_no=b_no)


def test_key_file_is_private_and_not_in_database(tmp_path, monkeypatch):
    import stat

    from typer.testing import CliRunner

    from kehu.cli import app
    from kehu.config import get_settings

    monkeypatch.setenv("KEHU_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEHU_DATABASE_URL", f"sqlite:///{tmp_path}/var/kehu.db")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["init", "--admin-password", "Admin-pass-2026"])
        assert result.exit_code == 0, result.output
        key = tmp_path / "var" / "keys.json"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        import base64
        import json

        material = json.loads(key.read_text())
        db = (tmp_path / "var" / "kehu.db").read_bytes()
        for raw in [material["audit"], *material["master"]["keys"].values(), *material["blind"]["keys"].values()]:
            assert base64.b64decode(raw) not in db and raw.encode() not in db
    finally:
        get_settings.cache_clear()
