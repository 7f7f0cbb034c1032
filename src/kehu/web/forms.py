"""Forms generated from the catalogue: one input per writable field, shaped by the user's rights.

No field list is written here: the fields, labels, kinds, choices and help come from the catalogue,
the required marks (※) are read off the archive rules, and the values are validated by the service.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from starlette.datastructures import FormData

from kehu.access import policy
from kehu.access.principal import Principal
from kehu.catalog.registry import Catalog, declared
from kehu.catalog.spec import FieldSpec
from kehu.customers import rules
from kehu.errors import Conflict, FieldError, KehuError, ValidationFailed
from kehu.web.view import display

#: Names of the hidden form fields that carry form state.
MASKED_FIELD = "masked"  # the input of a masked value: empty means "unchanged"
CLEAR_FIELD = "clear"  # ticked: clear that masked value
TEXTAREA_FROM = 300  # longer text fields get a text area
REF_CHECKS = ("user_ref", "department_ref")  # references offered as a choice of names


@dataclass
class Input:
    """One form input: a catalogue field with its value, mode, mark and error."""

    spec: FieldSpec
    value: str = ""
    mode: str = "edit"  # edit | masked (shown masked, empty input) | readonly (no right to change)
    shown: str = ""  # the masked or read-only text
    mark: str = ""  # "" | required | one_of | key
    hint: str = ""
    error: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    cleared: bool = False

    @property
    def name(self) -> str:
        """Form field name (the catalogue field name)."""
        return self.spec.name

    @property
    def widget(self) -> str:
        """select | date | textarea | text."""
        if self.mode == "masked":
            return "text"
        if self.spec.choices or self.spec.check in REF_CHECKS:
            return "select"
        if self.spec.kind == "date":
            return "date"
        if self.spec.kind == "text" and (self.spec.max_length or 0) > TEXTAREA_FROM:
            return "textarea"
        return "text"

    @property
    def inputmode(self) -> str:
        """Keyboard hint for phones and numbers."""
        if self.spec.kind in ("int", "decimal"):
            return "decimal"
        return {"mobile": "tel", "landline": "tel", "email": "email"}.get(self.spec.check or "", "text")

    @property
    def choices(self) -> list[tuple[str, str]]:
        """Options of a select: the field's choices or the references offered."""
        return list(self.spec.choices) or self.options


@lru_cache
def required_marks(kind: str) -> dict[str, tuple[str, str]]:
    """{field: (mark, hint)} of SPEC §1's required customer fields, derived from `rules.check` itself.

    An empty archive is checked; for each complaint, the fields whose presence alone silences it
    are its alternatives (name → itself; mobile / landline → either). Key-customer duties come
    from checking an empty key archive.
    """
    names = [s.name for s in declared().values() if s.entity == "customer" and s.writable]
    marks: dict[str, tuple[str, str]] = {n: ("required", "") for n in names
                                         if declared()[f"customer.{n}"].required}

    def complaints(importance: str, present: dict[str, bool]) -> set[tuple[str, str]]:
        return {(e.field, e.code) for e in rules.check({"kind": kind, "importance": importance}, present)}

    base = {(e.field, e.code): e.message for e in rules.check({"kind": kind, "importance": "normal"}, {})}
    key_only = {(e.field, e.code): e.message for e in rules.check({"kind": kind, "importance": "key"}, {})
                if (e.field, e.code) not in base}
    for importance, found, mark in (("normal", base, "required"), ("key", key_only, "key")):
        for complaint, message in found.items():
            alternatives = [n for n in names if complaint not in complaints(importance, {n: True})]
            for n in alternatives:
                kind_of_mark = "one_of" if len(alternatives) > 1 and mark == "required" else mark
                marks[n] = (kind_of_mark, message if kind_of_mark != "required" else "")
    return marks


def kind_fields(kind: str | None) -> frozenset[str]:
    """Fields that do not apply to this kind of customer (the archive rules refuse them)."""
    if kind == "individual":
        return frozenset(rules.ORGANISATION_ONLY)
    if kind == "organisation":
        return frozenset(rules.INDIVIDUAL_ONLY)
    return frozenset()


def form_specs(catalog: Catalog, entity: str, *, kind: str | None = None) -> list[FieldSpec]:
    """Writable fields of an entity shown on its form (customers: the kind is chosen apart)."""
    skip = kind_fields(kind) | ({"kind"} if entity == "customer" else frozenset())
    return [s for s in catalog.writable(entity) if s.name not in skip]


def _place(item: Input, principal: Principal, record: dict[str, Any] | None, *, minor: bool, action: str) -> bool:
    """Set the input's mode and value from the presented record; False when it is not on the form."""
    spec = item.spec
    if record is None:
        return policy.may(principal, action, spec, minor=minor)
    if spec.name in record.get("_hidden", ()):
        return False
    current = record.get(spec.name)
    if not policy.may(principal, "modify", spec, minor=minor):
        item.mode, item.shown = "readonly", display(spec, current, record) or ""
    elif spec.name in record.get("_masked", ()):
        item.mode, item.shown = "masked", current or ""
    else:
        item.value = "" if current is None else str(current)
    return True


def _offer(item: Input, refs: dict[str, list[tuple[str, str]]], principal: Principal,
           record: dict[str, Any] | None) -> bool:
    """Names to choose a reference from; False when there is no choice (the service fills the default)."""
    item.options = list(refs.get(item.name, []))
    if record is None and item.spec.check == "user_ref":
        item.value = principal.user_id  # a new customer is one's own unless given away
    if item.value and item.value not in {k for k, _ in item.options}:
        item.options.insert(0, (item.value, display(item.spec, item.value, record) or item.value))
    return bool(item.options)


def inputs(catalog: Catalog, principal: Principal, entity: str, *, record: dict[str, Any] | None = None,
           kind: str | None = None, minor: bool = False, posted: dict[str, str] | None = None,
           refs: dict[str, list[tuple[str, str]]] | None = None, cleared: frozenset[str] = frozenset(),
           action: str = "create") -> list[Input]:
    """The inputs of a new record's form (`record` None; fields need `action`) or of an edit form."""
    marks = required_marks(kind or "individual") if entity == "customer" else {}
    refs = refs or {}
    out = []
    for spec in form_specs(catalog, entity, kind=kind):
        item = Input(spec, hint=spec.help, mark="required" if spec.required else "")
        if spec.name in marks:
            item.mark, extra = marks[spec.name]
            item.hint = extra or item.hint
        if not _place(item, principal, record, minor=minor, action=action):
            continue
        if spec.check in REF_CHECKS and item.mode != "readonly" and not _offer(item, refs, principal, record):
            continue
        if posted is not None and item.mode != "readonly" and spec.name in posted:
            item.value = posted[spec.name]
        item.cleared = spec.name in cleared
        out.append(item)
    return out


def parse(form: FormData | None, catalog: Catalog, entity: str, *, kind: str | None = None) -> dict[str, str]:
    """The submitted values of a generated form; an untouched masked input means "unchanged"."""
    if form is None:
        return {}
    masked, clear = set(form.getlist(MASKED_FIELD)), set(form.getlist(CLEAR_FIELD))
    data = {}
    for spec in form_specs(catalog, entity, kind=kind):
        value = form.get(spec.name)
        if not isinstance(value, str):
            continue  # not on the form (read-only or hidden for this user)
        if spec.name in masked and not value.strip():
            if spec.name in clear:
                data[spec.name] = ""
            continue
        data[spec.name] = value
    return data


@dataclass
class Problems:
    """A refused submission: messages per field, messages for the whole form, a duplicate to link to."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    duplicate: str | None = None


def problems(exc: KehuError, shown: list[str]) -> Problems:
    """Place a service error on the form: per-field messages where the field is on the form."""
    out = Problems()
    items: list[FieldError] = exc.errors if isinstance(exc, ValidationFailed) else []
    for e in items:
        if e.field in shown and e.field not in out.fields:
            out.fields[e.field] = e.message
        elif e.field not in shown:
            out.general.append(e.message)
    if not isinstance(exc, ValidationFailed):
        out.general.append(exc.message)
        if isinstance(exc, Conflict):
            out.duplicate = exc.detail.get("archive_no")
            if exc.detail.get("field") in shown:
                out.fields[exc.detail["field"]] = exc.message
    return out


def place_problems(items: list[Input], exc: KehuError | None, extra: tuple[str, ...] = ()) -> Problems:
    """A refused submission's messages under the inputs they concern; the rest for the whole form."""
    if exc is None:
        return Problems()
    out = problems(exc, [i.name for i in items if i.mode != "readonly"] + list(extra))
    for item in items:
        item.error = out.fields.get(item.name, "")
    return out
