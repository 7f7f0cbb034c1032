"""The data subject's copy: every catalogued field of the customer, nothing of anyone else."""
from __future__ import annotations

import io
import json
from datetime import date

from openpyxl import load_workbook

from kehu.catalog.registry import data_models, storage_only
from kehu.privacy import copy, requests
from tests.privacy.conftest import make_rich


def _verified(kehu, world, archive_no: str, kind: str = "copy") -> str:
    with kehu.db.transaction() as s:
        req = requests.create(s, world.ctx("info"), customer_no=archive_no, kind=kind, received_on=date(2026, 3, 2))
        no = req.request_no
    with kehu.db.transaction() as s:
        requests.verify(s, world.ctx("info"), request_no=no, method="id_document")
    return no


def test_copy_contains_every_catalogued_field_and_nothing_of_another_customer(kehu, world, rich):
    other = make_rich(kehu, world, name="司马相如", n=8)
    no = _verified(kehu, world, rich.archive_no)
    with kehu.db.transaction() as s:
        body = copy.for_request(s, world.ctx("info"), request_no=no)
    text = copy.to_json(body).decode()
    for value in rich.secrets.values():
        assert value in text
    for key, value in other.secrets.items():
        assert value not in text, key
    populated = {e for e, part in body["entities"].items() if part["records"]}
    assert populated == set(data_models()) - {"communication", "lead", "lead_change", "survey", "survey_answer", "order_attachment",
                                               "payment_plan"}
    record = body["entities"]["customer"]["records"][0]
    assert not record["_masked"] and not record["_hidden"]  # the information manager sees every value
    assert set(body["entities"]["customer"]["fields"]) <= set(record)
    assert any(h["field"] == "credit_rating" and h["old_value"] == "AAA" and h["new_value"] == "AA"
               for h in body["history"])
    assert body["accesses"] and all(a["who"] for a in body["accesses"])
    assert {a["action"] for a in body["accesses"]} >= {"customer.create", "customer.update"}
    json.loads(text)


def test_copy_accesses_name_fields_never_values(kehu, world, rich):
    no = _verified(kehu, world, rich.archive_no)
    with kehu.db.transaction() as s:
        copy.for_request(s, world.ctx("info"), request_no=no)
    with kehu.db.transaction() as s:
        body = copy.for_request(s, world.ctx("info"), request_no=no)
    produced = [a for a in body["accesses"] if a["action"] == "privacy.copy"]
    assert produced and "customer.id_number" in produced[0]["fields"]
    assert rich.secrets["id_number"] not in json.dumps(body["accesses"], ensure_ascii=False)


def test_copy_as_workbook_is_readable(kehu, world, rich):
    no = _verified(kehu, world, rich.archive_no)
    with kehu.db.transaction() as s:
        body = copy.for_request(s, world.ctx("info"), request_no=no)
    wb = load_workbook(io.BytesIO(copy.to_xlsx(body)))
    assert {"customer", "relation", "order", "payment", "变更历史", "访问记录"} <= set(wb.sheetnames)
    cells = {str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None}
    assert rich.secrets["bank_account"] in cells and rich.secrets["payer_account"] in cells


def test_no_copy_before_identity_verification(kehu, world, rich):
    import pytest

    from kehu.errors import Conflict

    with kehu.db.transaction() as s:
        no = requests.create(s, world.ctx("info"), customer_no=rich.archive_no, kind="copy",
                             received_on=date(2026, 3, 2)).request_no
    with pytest.raises(Conflict) as err, kehu.db.transaction() as s:
        copy.for_request(s, world.ctx("info"), request_no=no)
    assert err.value.code == "not_verified"


def test_storage_only_entities_are_in_the_copy_too(kehu, world, rich):
    no = _verified(kehu, world, rich.archive_no)
    with kehu.db.transaction() as s:
        body = copy.for_request(s, world.ctx("info"), request_no=no)
    assert all(body["entities"][e]["records"] for e in data_models() if storage_only(e) and e not in ("payment_plan", "order_attachment"))


def test_rows_of_uncatalogued_tables_under_the_customer_are_in_the_copy(kehu, world, rich):
    from datetime import datetime, timezone

    from kehu.kit.ids import new_id
    from kehu.pools.models import PoolEntry

    with kehu.db.transaction() as s:
        s.add(PoolEntry(id=new_id(), customer_id=rich.customer_id, pooled_at=datetime(2026, 5, 1, tzinfo=timezone.utc),
                        rule_days=30))
    no = _verified(kehu, world, rich.archive_no)
    with kehu.db.transaction() as s:
        body = copy.for_request(s, world.ctx("info"), request_no=no)
    assert [r["rule_days"] for r in body["other"]["pool_entries"]] == [30]
    wb = load_workbook(io.BytesIO(copy.to_xlsx(body)))
    assert "pool_entries" in wb.sheetnames
