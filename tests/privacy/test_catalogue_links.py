"""Every catalogued entity declares how it reaches its customer, and every field an erasure method."""
from __future__ import annotations

import pytest

from kehu.catalog.registry import customer_link, data_models, declared, storage_only
from kehu.catalog.spec import ERASURE, FieldSpec


@pytest.mark.parametrize("entity", sorted(data_models()))
def test_every_catalogued_entity_reaches_its_customer(entity):
    path = customer_link(entity)  # LookupError names an entity added without a link
    assert entity == "customer" or path[-1][1] == "customer"


def test_an_entity_without_a_link_fails(monkeypatch):
    models = dict(data_models())

    class Orphan:
        __tablename__ = "orphans"
        __table__ = type("T", (), {"c": {}})()

    models["orphan"] = Orphan
    monkeypatch.setattr("kehu.catalog.registry.data_models", lambda: models)
    with pytest.raises(LookupError, match="orphan"):
        customer_link("orphan")


def test_every_field_has_an_erasure_method_derived_from_its_declaration():
    methods = {k: f.erasure_method for k, f in declared().items()}
    assert set(methods.values()) <= set(ERASURE)
    assert methods["customer.archive_no"] == "keep"  # never reused, kept on the tombstone
    assert methods["customer.id_number"] == "erase"
    assert methods["customer.name"] == "anonymise"  # required: replaced by a placeholder
    assert methods["customer.owner_id"] == "erase"  # explicit declaration wins over the category default


def test_accounting_records_are_storage_only():
    assert {e for e in data_models() if storage_only(e)} == {"order", "order_item", "payment_plan", "payment", "order_attachment"}


def test_explicit_erasure_overrides_the_default():
    spec = FieldSpec(entity="x", name="y", label="y", level=3, category="management", erasure="erase")
    assert spec.erasure_method == "erase"
