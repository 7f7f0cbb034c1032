"""Where key material is referenced in the store, found from the table declarations (no second list).

- wrapped data keys: `customers.dek` (sealed with a master key, AAD `dek:<customer id>`);
- blind indexes: every column declared with `catalog.spec.blind(...)`, in `customers` (the
  customer's own data key) or in a table with a `customer_id` column (that customer's key).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from kehu.db import Base


@dataclass(frozen=True)
class BlindColumn:
    """A blind-index column, the encrypted column it indexes and the blind-index domain."""

    index: str
    source: str
    domain: str


@dataclass(frozen=True)
class BlindTable:
    """A table holding blind indexes, and the column naming the customer whose data key seals the values."""

    table: Table
    owner: str
    columns: tuple[BlindColumn, ...]


def blind_tables(*, strict: bool = True) -> list[BlindTable]:
    """Every table with blind-index columns (customers first); `strict`: fail on one whose values cannot be read."""
    import kehu.models  # noqa: F401  (registers every table)

    out = []
    for table in Base.metadata.sorted_tables:
        cols = []
        for col in table.columns:
            of = col.info.get("kehu_blind_of")
            if of is None:
                continue
            source = col.name.removesuffix("_bi")
            spec = table.columns[source].info["kehu_field"]
            cols.append(BlindColumn(col.name, source, spec["blind_index"] or of))
        if not cols:
            continue
        owner = "id" if table.name == "customers" else "customer_id"
        if owner not in table.columns:
            if not strict:
                continue
            raise RuntimeError(f"{table.name}: blind-indexed values without a customer_id (no data key to read them)")
        out.append(BlindTable(table, owner, tuple(cols)))
    return sorted(out, key=lambda t: t.table.name != "customers")


def customers() -> Table:
    """The table holding the wrapped data keys."""
    import kehu.models  # noqa: F401

    return Base.metadata.tables["customers"]
