"""The one presenter: every way customer data leaves Kehu turns records into output here.

It decides per field (policy.display_state) and only decrypts what will be shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from kehu.access import policy
from kehu.access.principal import Principal
from kehu.catalog.registry import Catalog, table_of
from kehu.catalog.vault import Vault, to_text
from kehu.kit.masking import mask


@dataclass
class Shown:
    """A record as one principal may see it."""

    values: dict[str, Any] = field(default_factory=dict)
    masked: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form: the visible values plus the lists of masked and hidden fields."""
        return {**self.values, "_masked": self.masked, "_hidden": self.hidden}


def json_value(value: Any) -> Any:
    """JSON-ready form of a stored value."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return to_text(value)


def present(principal: Principal, catalog: Catalog, entity: str, record: Any, vault: Vault, *,
            minor: bool = False, revealed: frozenset[str] = frozenset(),
            only: list[str] | None = None) -> Shown:
    """Values of a record per the principal's rights; `revealed` fields shown plain when allowed."""
    if only is None and not revealed:
        return _present_all(principal, catalog, entity, record, vault, minor)
    shown = Shown()
    values, masked, hidden = shown.values, shown.masked, shown.hidden
    for name, spec, state, table, rule in _present_plan(principal, catalog, entity, minor):
        if only is not None and name not in only:
            continue
        if revealed and name in revealed:
            state = policy.display_state(principal, spec, minor=minor, revealed=True)
        if state == "hidden":
            hidden.append(name)
            continue
        value = getattr(record, name)  # what vault.read does, with the table and mask rule looked up once
        if value is not None and table is not None:
            value = vault.open(value, table=table, field=name, row_id=record.id)
        if state == "masked" and value is not None:
            values[name] = mask(rule, to_text(value))
            masked.append(name)
        else:
            values[name] = json_value(value)
    return shown


def _present_all(principal: Principal, catalog: Catalog, entity: str, record: Any, vault: Vault,
                 minor: bool) -> Shown:
    """`present` of every field without reveals (a record's detail view): the same `Shown`, from a plan of the
    fields shown (read in one `attrgetter` call) and the list of hidden ones, made once per principal."""
    getter, shown_fields, hidden = _all_plan(principal, catalog, entity, minor)
    shown = Shown(hidden=list(hidden))
    values, masked = shown.values, shown.masked
    for (name, table, rule), value in zip(shown_fields, getter(record)):
        if value is not None:
            if table is not None:
                value = vault.open(value, table=table, field=name, row_id=record.id)
            if rule is not None:
                values[name] = mask(rule, to_text(value))
                masked.append(name)
                continue
            if not isinstance(value, (str, int, float, bool)):  # json_value
                value = to_text(value)
        values[name] = value
    return shown


def _all_plan(principal: Principal, catalog: Catalog, entity: str, minor: bool) -> tuple:
    """(getter of the shown fields' values as a tuple, (name, table if encrypted, mask rule if masked) per shown
    field, hidden field names), in the plan's order; memoised with the catalogue."""
    key = ("present_all", principal, entity, minor)
    plan = catalog.memo.get(key)
    if plan is None:
        steps = _present_plan(principal, catalog, entity, minor)
        shown = tuple((name, table, rule if state == "masked" else None)
                      for name, _spec, state, table, rule in steps if state != "hidden")
        names = [name for name, _t, _r in shown]
        getter = (attrgetter(*names) if len(names) > 1
                  else (lambda record, name=names[0]: (getattr(record, name),)) if names else (lambda record: ()))
        plan = catalog.memo[key] = (getter, shown, tuple(name for name, _s, state, _t, _r in steps if state == "hidden"))
    return plan


def _present_plan(principal: Principal, catalog: Catalog, entity: str, minor: bool) -> tuple:
    """`display_plan` as (name, spec, state, table if encrypted, mask rule) per field (memoised the same way)."""
    key = ("present", principal, entity, minor)
    plan = catalog.memo.get(key)
    if plan is None:
        plan = catalog.memo[key] = tuple(
            (spec.name, spec, state, table_of(entity) if spec.encrypted else None,
             spec.mask if spec.mask != "none" else "all")
            for spec, state in display_plan(principal, catalog, entity, minor=minor))
    return plan


def read_fields(principal: Principal, catalog: Catalog, entity: str, *, minor: bool = False) -> list[str]:
    """Names of the fields a principal will see (masked or plain) — what a read touches, for the audit."""
    return [spec.name for spec, state in display_plan(principal, catalog, entity, minor=minor) if state != "hidden"]


def display_plan(principal: Principal, catalog: Catalog, entity: str, *, minor: bool = False) -> tuple:
    """(spec, display state without reveal) per field of an entity, computed once per principal and catalogue."""
    key = ("display", principal, entity, minor)
    plan = catalog.memo.get(key)
    if plan is None:
        plan = catalog.memo[key] = tuple((spec, policy.display_state(principal, spec, minor=minor))
                                         for spec in catalog.of(entity))
    return plan
