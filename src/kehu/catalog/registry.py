"""The catalogue assembled from the column declarations of every customer-data model."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from kehu.catalog.spec import FieldSpec
from kehu.db import Base


def data_models() -> dict[str, type]:
    """Every mapped class holding customer information, by entity name."""
    import kehu.models  # noqa: F401  (registers all tables)

    out = {}
    for mapper in Base.registry.mappers:
        entity = getattr(mapper.class_, "__entity__", None)
        if entity:
            out[entity] = mapper.class_
    return out


@lru_cache
def declared() -> dict[str, FieldSpec]:
    """All declared fields, keyed 'entity.field', in declaration order."""
    specs: dict[str, FieldSpec] = {}
    for entity, cls in data_models().items():
        for col in cls.__table__.columns:
            decl = col.info.get("kehu_field")
            if decl:
                required = not col.nullable and col.default is None and decl["writable"]
                spec = FieldSpec(entity=entity, name=col.key, required=required, **decl)
                specs[spec.key] = spec
    return specs


@lru_cache
def table_of(entity: str) -> str:
    """The table holding an entity's records (part of every sealed value's associated data)."""
    return data_models()[entity].__tablename__


def undeclared_columns() -> list[str]:
    """Columns of customer-data tables with no declaration at all (must be empty)."""
    missing = []
    for entity, cls in data_models().items():
        for col in cls.__table__.columns:
            if "kehu_field" not in col.info and "kehu_system" not in col.info:
                missing.append(f"{cls.__tablename__}.{col.key}")
    return missing


def customer_link(entity: str) -> tuple[tuple[str, str], ...]:
    """How an entity's rows reach their customer: [(column, parent entity)…] ending at "customer".

    Declared on the model: a `customer_id` column (direct), or `__customer_link__ = ("order_id", "order")`
    naming the column that points to a parent entity which itself reaches the customer. The customer is
    the empty path. A catalogued entity without a link raises LookupError (a test enforces it).
    """
    path: list[tuple[str, str]] = []
    seen = set()
    while entity != "customer":
        if entity in seen:
            raise LookupError(f"cyclic customer link at {entity}")
        seen.add(entity)
        cls = data_models()[entity]
        link = getattr(cls, "__customer_link__", None)
        if link is None and "customer_id" in cls.__table__.c:
            link = ("customer_id", "customer")
        if link is None:
            raise LookupError(f"entity {entity} declares no way to its customer (__customer_link__)")
        path.append(link)
        entity = link[1]
    return tuple(path)


def storage_only(entity: str) -> str | None:
    """The legal retention class of an entity kept after its customer's erasure (`__retention__`), if any."""
    return getattr(data_models()[entity], "__retention__", None)


@dataclass(frozen=True)
class Catalog:
    """The effective catalogue: declarations with administrator overrides applied."""

    fields: dict[str, FieldSpec]

    @cached_property
    def _by_entity(self) -> dict[str, tuple[FieldSpec, ...]]:
        grouped: dict[str, list[FieldSpec]] = {}
        for f in self.fields.values():
            grouped.setdefault(f.entity, []).append(f)
        return {e: tuple(fs) for e, fs in grouped.items()}

    @cached_property
    def memo(self) -> dict:
        """Values derived from this catalogue (e.g. display plans per principal); dies with it at the next epoch."""
        return {}

    def of(self, entity: str) -> list[FieldSpec]:
        """Fields of one entity, in declaration order."""
        return list(self._by_entity.get(entity, ()))

    def get(self, entity: str, name: str) -> FieldSpec:
        """One field's spec (KeyError when undeclared)."""
        return self.fields[f"{entity}.{name}"]

    def writable(self, entity: str) -> list[FieldSpec]:
        """Fields a caller may supply on create/update."""
        return [f for f in self.of(entity) if f.writable]


def build_catalog(overrides: dict[str, dict]) -> Catalog:
    """Apply overrides {key: {"level":…, "mask":…}} to the declarations."""
    base = declared()
    return Catalog({k: (spec.with_overrides(**overrides[k]) if k in overrides else spec)
                    for k, spec in base.items()})
