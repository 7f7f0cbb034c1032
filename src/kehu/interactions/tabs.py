"""Shared pieces of the relationship pages: the archive tabs, generated forms with refusals, local dates.

Used by the web adapters of interactions, orders, complaints, surveys, leads, pools and care. Nothing here
decides access: every value comes from a service call made through `kehu.web.session`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from fastapi.responses import Response
from starlette.datastructures import FormData

from kehu.access import policy
from kehu.catalog.spec import FieldSpec
from kehu.errors import Conflict, Forbidden, KehuError, NotFound, ValidationFailed
from kehu.runtime import Ctx
from kehu.web import forms, view
from kehu.web.i18n import t
from kehu.web.render import hx_target, today_local
from kehu.web.session import CSRF_CODE, WebCall

#: Refusals shown on the page that was submitted (a failed CSRF check is not one of them).
REFUSALS = (ValidationFailed, Conflict, Forbidden)
#: The archive's relationship tabs: (tab key, url suffix).
TABS = (("timeline", "timeline"), ("orders", "orders"), ("complaints", "complaints"), ("surveys", "surveys"),
        ("leads", "leads"))


def shown_on_form(exc: KehuError) -> bool:
    """A refusal that belongs on the form (not a failed CSRF check)."""
    return isinstance(exc, REFUSALS) and exc.code != CSRF_CODE


def customers_only(ctx: Ctx) -> None:
    """Pages about customers do not exist for users who see none (administrator, auditor)."""
    if not ctx.principal.sees_customers:
        raise NotFound()


def may_any(ctx_or_call: Any, action: str, entity: str, *, minor: bool = False) -> bool:
    """Whether any writable field of the entity allows this action (to offer the button at all)."""
    principal, catalog = ctx_or_call.principal, ctx_or_call.catalog
    return any(policy.may(principal, action, s, minor=minor) for s in catalog.writable(entity))


def may(call: WebCall, action: str, entity: str, name: str) -> bool:
    """Whether the viewer may act on one declared field (to offer a button)."""
    return policy.may(call.principal, action, call.catalog.get(entity, name))


def tab(call: WebCall, no: str, name: str, panel: str, *, status: int = 200, **context: Any) -> Response:
    """One relationship tab of an archive: the panel alone for HTMX, else the whole page around it."""
    template = panel if hx_target(call.request) == "tab-panel" else "interactions/tab_page.html"
    return call.page(template, no=no, tab=name, panel=panel, status=status, today=today_local(), **context)


def columns(call: WebCall, entity: str, names: list[str] | None = None) -> list[FieldSpec]:
    """Fields of an entity this viewer sees at all (table columns)."""
    return view.visible_columns(call.catalog, call.principal, entity, names)


def rows(call: WebCall, specs: list[FieldSpec], records: list[dict]) -> list[tuple[dict, list[view.Cell]]]:
    """(record, cells) of presented records."""
    return [(r, view.cells(call.principal, specs, r)) for r in records]


@dataclass
class PrefixedInput(forms.Input):
    """An input whose form name (and element id) carries a prefix: two forms of one page may share field names."""

    prefix: str = ""

    @property
    def name(self) -> str:
        """Form field name: prefix + catalogue field name."""
        return self.prefix + self.spec.name


def inputs(call: WebCall, entity: str, *, only: tuple[str, ...] | None = None, posted: dict | None = None,
           refs: dict | None = None, defaults: dict[str, str] | None = None,
           exc: KehuError | None = None, prefix: str = "", action: str = "create",
           ) -> tuple[list[forms.Input], forms.Problems]:
    """Inputs of a new record's form (catalogue-generated, `only` some fields) with a refusal placed on them."""
    items = forms.inputs(call.catalog, call.principal, entity, posted=posted, refs=refs, action=action)
    if only is not None:
        items = sorted((i for i in items if i.name in only), key=lambda i: only.index(i.name))
    for item in items:
        if posted is None and defaults and item.name in defaults:
            item.value = defaults[item.name]
    problems = forms.place_problems(items, exc)
    if prefix:
        items = [PrefixedInput(**{f.name: getattr(i, f.name) for f in fields(i)}, prefix=prefix) for i in items]
    return items, problems


def unprefixed(form: FormData | None, prefix: str) -> FormData | None:
    """The fields of one prefixed form of a page, under their catalogue names (for `forms.parse`)."""
    if form is None:
        return None
    return FormData([(k[len(prefix):], v) for k, v in form.multi_items() if k.startswith(prefix)])


def message(exc: KehuError) -> str:
    """The service's message(s) of a refusal, for a notice on the page."""
    if isinstance(exc, ValidationFailed):
        return t("common.list_sep").join(e.message for e in exc.errors) or exc.message
    return exc.message


def form_page(call: WebCall, *, title: str, action: str, back: str, items: list[forms.Input],
              problems: forms.Problems, status: int = 200, no: str | None = None,
              selects: dict[str, list[tuple[str, str]]] | None = None, hidden: dict[str, str] | None = None,
              **context: Any) -> Response:
    """A generated form on a page of its own (post/redirect/get; a refused one comes back filled)."""
    return call.page("interactions/form.html", title=title, action=action, back=back, items=items,
                     problems=problems, status=status, no=no, selects=selects or {}, hidden=hidden or {}, **context)
