"""Finding every record of one customer through the catalogue's declared links (registry.customer_link)."""
from __future__ import annotations

from sqlalchemy import Select, select

from kehu.catalog.registry import customer_link, data_models


def owned_ids(entity: str, customer_id: str | list[str]) -> Select:
    """SELECT of the ids of an entity's rows that belong to the customer(s) (nested through parents)."""
    table = data_models()[entity].__table__
    path = customer_link(entity)
    if not path:
        return select(table.c.id).where(_match(table.c.id, customer_id))
    column, parent = path[0]
    if parent == "customer":
        return select(table.c.id).where(_match(table.c[column], customer_id))
    return select(table.c.id).where(table.c[column].in_(owned_ids(parent, customer_id)))


def _match(column, customer_id: str | list[str]):
    return column.in_(customer_id) if isinstance(customer_id, list) else column == customer_id


def depth(entity: str) -> int:
    """Number of links between an entity and its customer (children first when deleting)."""
    return len(customer_link(entity))
