"""Turning what the presenter returned (values, `_masked`, `_hidden`) into cells of a page.

Nothing here decides what a user may see: the service already masked or left out each value;
this only labels them and asks the policy whether a reveal button makes sense.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kehu.access import policy
from kehu.access.principal import Principal
from kehu.catalog.registry import Catalog
from kehu.catalog.spec import FieldSpec

#: Sections of an archive page, by catalogue category.
SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("basic", frozenset({"identity", "contact", "location"})),
    ("management", frozenset({"management"})),
    ("business", frozenset({"business", "transaction"})),
    ("financial", frozenset({"financial"})),
    ("preference", frozenset({"preference", "health"})),
)
#: Reference fields are shown by the name the service resolved, not by id.
REF_NAMES = {"user_ref": "owner_name", "department_ref": "department_name"}


def section_of(spec: FieldSpec) -> str:
    """The page section a field belongs to."""
    return next((key for key, cats in SECTIONS if spec.category in cats), SECTIONS[0][0])


def dom_id(spec: FieldSpec, record_id: str | None = None) -> str:
    """Id of the page element holding one field's value (the target of a reveal)."""
    return f"v-{spec.entity}-{record_id or 'main'}-{spec.name}"


def display(spec: FieldSpec, value: Any, record: dict[str, Any] | None = None) -> str | None:
    """Text of a plain value: choice labels, resolved names of references."""
    if value is None or value == "":
        return None
    if spec.check in REF_NAMES and record is not None:
        return record.get(REF_NAMES[spec.check]) or str(value)
    if spec.choices:
        return dict(spec.choices).get(str(value), str(value))
    return str(value)


@dataclass
class Cell:
    """One field of one record as this viewer gets it."""

    spec: FieldSpec
    text: str | None
    state: str  # plain | masked | hidden
    reveal: bool = False
    dom_id: str = ""

    @property
    def label(self) -> str:
        """The field's label from the catalogue."""
        return self.spec.label

    @property
    def empty(self) -> bool:
        """Plain and without a value."""
        return self.state == "plain" and self.text is None


def cells(principal: Principal, specs: list[FieldSpec], record: dict[str, Any], *, minor: bool = False,
          record_id: str | None = None) -> list[Cell]:
    """Cells of a presented record; hidden fields come back with state 'hidden' and no text."""
    hidden, masked = set(record.get("_hidden", ())), set(record.get("_masked", ()))
    out = []
    for spec in specs:
        target = dom_id(spec, record_id)
        if spec.name in hidden:
            out.append(Cell(spec, None, "hidden", dom_id=target))
        elif spec.name in masked:
            out.append(Cell(spec, record.get(spec.name), "masked", dom_id=target,
                            reveal=policy.may(principal, "reveal", spec, minor=minor)))
        else:
            out.append(Cell(spec, display(spec, record.get(spec.name), record), "plain", dom_id=target))
    return out


def sections(catalog: Catalog, principal: Principal, record: dict[str, Any], *, minor: bool,
             keep_empty: bool = False, skip: frozenset[str] = frozenset()) -> list[tuple[str, list[Cell]]]:
    """The customer's visible fields grouped into page sections (hidden ones and `skip` left out)."""
    grouped: dict[str, list[Cell]] = {key: [] for key, _ in SECTIONS}
    specs = [s for s in catalog.of("customer") if s.name not in skip]
    for cell in cells(principal, specs, record, minor=minor):
        if cell.state != "hidden" and (keep_empty or not cell.empty):
            grouped[section_of(cell.spec)].append(cell)
    return [(key, items) for key, items in grouped.items() if items or keep_empty]


def visible_columns(catalog: Catalog, principal: Principal, entity: str, names: list[str] | None = None, *,
                    minor: bool = False) -> list[FieldSpec]:
    """Fields of an entity this viewer sees at all (for table columns)."""
    specs = catalog.of(entity) if names is None else [catalog.get(entity, n) for n in names]
    return [s for s in specs if policy.display_state(principal, s, minor=minor) != "hidden"]
