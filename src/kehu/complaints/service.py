"""Business rules of complaints (投诉): numbering, deadlines, the handling state machine. No HTTP; never commits.

register → investigate (cause) → countermeasure → handle (退货/换货/折扣/维修, loss, responsible department)
→ evaluate (customer satisfaction, typed in or fed by a survey answer) → close. Any other transition is
refused with 409 `invalid_transition`. Every step is audited (field names only) and each changed field
is written to the customer's change history with the step as reason.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from kehu import events
from kehu.access import policy
from kehu.catalog.presenter import present, read_fields
from kehu.catalog.validation import check_all
from kehu.catalog.vault import to_text
from kehu.complaints import repository as repo
from kehu.complaints.models import STATUSES, Complaint
from kehu.customers.changes import history_row
from kehu.customers.models import Customer, History
from kehu.customers.service import minor_of, vault_of
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.interactions.service import clean_record, load_customer, require_create, store
from kehu.kit.ids import new_id
from kehu.runtime import Ctx

#: default days between receipt and the promised completion date, per urgency (see deadline_days)
DEFAULT_DEADLINE_DAYS = {"critical": 1, "urgent": 3, "normal": 7}
REGISTER_FIELDS = ("kind", "channel", "urgency", "received_on", "content", "promised_on")
LIST_FIELDS = ["complaint_no", "status", "kind", "channel", "urgency", "received_on", "promised_on", "handled_on",
               "closed_on"]


class Step:
    """One transition of the handling workflow."""

    def __init__(self, name: str, label: str, source: str, target: str, required: tuple[str, ...] = (),
                 optional: tuple[str, ...] = (), stamp: str | None = None):
        self.name, self.label, self.source, self.target = name, label, source, target
        self.required, self.optional, self.stamp = required, optional, stamp

    @property
    def fields(self) -> tuple[str, ...]:
        """Fields the step may fill."""
        return self.required + self.optional


STEPS = {s.name: s for s in (
    Step("investigate", "调查", "registered", "investigated", ("cause",)),
    Step("countermeasure", "制定对策", "investigated", "planned", ("countermeasure",)),
    Step("handle", "处理", "planned", "handled", ("handling",), ("loss_amount", "responsible_department_id"),
         stamp="handled_on"),
    Step("evaluate", "满意度评价", "handled", "evaluated", ("satisfaction",), ("evaluation_note",)),
    Step("close", "结案", "evaluated", "closed", stamp="closed_on"),
)}
#: allowed status changes (closed is final), derived from STEPS
TRANSITIONS = {s.source: {s.target} for s in STEPS.values()}
STATUS_LABELS = dict(STATUSES)


def deadline_days(ctx: Ctx) -> dict[str, int]:
    """Days to the promised date per urgency: defaults overridden by `settings.complaint_deadline_days`."""
    override = getattr(ctx.kehu.settings, "complaint_deadline_days", None) or {}
    return {**DEFAULT_DEADLINE_DAYS, **override}


def load(session: Session, ctx: Ctx, complaint_no: str, *, for_update: bool = False) -> tuple[Complaint, Customer]:
    """A complaint whose customer is in the caller's scope (404 otherwise)."""
    found = repo.get(session, ctx.principal, complaint_no=complaint_no, for_update=for_update)
    if found is None:
        raise NotFound()
    return found


def deadline_state(c: Complaint, today: date) -> dict[str, Any]:
    """Overdue (open past the promised date) and late (closed after it), with the days past the promise."""
    end = c.closed_on if c.status == "closed" else today
    days = (end - c.promised_on).days if c.promised_on and end else 0
    return {"overdue": c.status != "closed" and days > 0, "late": c.status == "closed" and days > 0,
            "days_past_deadline": max(days, 0)}


def shown(ctx: Ctx, c: Complaint, customer: Customer, *, today: date, only: list[str] | None = None) -> dict[str, Any]:
    """A complaint as the caller may see it, with its deadline state as of `today`."""
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    return {"customer_no": customer.archive_no,
            **present(ctx.principal, ctx.catalog, "complaint", c, vault, minor=minor, only=only).as_dict(),
            "status_label": STATUS_LABELS[c.status], **deadline_state(c, today),
            "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat()}


def register(session: Session, ctx: Ctx, *, customer_no: str | None, data: dict[str, Any],
             today: date) -> dict[str, Any]:
    """Register a complaint of a customer in scope; the promised date defaults from the urgency."""
    customer = load_customer(session, ctx, customer_no, writing=True) if customer_no else None
    later = [FieldError(k, "not_at_register", "该字段在后续处理步骤中填写") for k in data
             if k not in REGISTER_FIELDS and f"complaint.{k}" in ctx.catalog.fields]
    data = {k: v for k, v in data.items() if k in REGISTER_FIELDS or f"complaint.{k}" not in ctx.catalog.fields}
    if data.get("received_on") in (None, ""):
        data["received_on"] = today.isoformat()
    values, errors = clean_record(ctx, "complaint", data)
    errors = later + errors
    if customer is None:
        errors.insert(0, FieldError("customer_no", "required", "请填写客户档案编号"))
    received = values.get("received_on")
    if values.get("promised_on") is None and received and values.get("urgency"):
        values["promised_on"] = received + timedelta(days=deadline_days(ctx)[values["urgency"]])
    elif values.get("promised_on") and received and values["promised_on"] < received:
        errors.append(FieldError("promised_on", "before_received", "承诺完成日期不能早于受理日期"))
    if errors:
        raise ValidationFailed(errors)
    minor = minor_of(customer)
    require_create(ctx, "complaint", values, minor=minor, also=("complaint_no", "status"))
    now = utcnow()
    c = Complaint(id=new_id(), customer_id=customer.id, complaint_no=repo.next_complaint_no(session, now.year),
                  status="registered", created_by=ctx.principal.user_id, created_at=now, updated_at=now)
    store(ctx, vault_of(ctx, customer), c, "complaint", {k: v for k, v in values.items() if v is not None})
    session.add(c)
    session.flush()
    ctx.audit(session, action="complaint.register", target_type="complaint", target_id=c.id,
              customer_no=customer.archive_no,
              fields=sorted({f"complaint.{k}" for k, v in values.items() if v is not None}
                            | {"complaint.complaint_no", "complaint.status"}))
    events.stage(session, "complaint.registered", complaint_id=c.id, complaint_no=c.complaint_no,
                 customer_id=customer.id, customer_no=customer.archive_no, urgency=c.urgency)
    return shown(ctx, c, customer, today=today)


def get(session: Session, ctx: Ctx, *, complaint_no: str, today: date) -> dict[str, Any]:
    """One complaint; the read is audited."""
    c, customer = load(session, ctx, complaint_no)
    body = shown(ctx, c, customer, today=today)
    fields = [f"complaint.{n}" for n in read_fields(ctx.principal, ctx.catalog, "complaint", minor=minor_of(customer))]
    ctx.audit(session, action="complaint.read", target_type="complaint", target_id=c.id,
              customer_no=customer.archive_no, fields=fields)
    return body


def list_(session: Session, ctx: Ctx, *, today: date, customer_no: str | None = None, status: str | None = None,
          overdue: bool | None = None, cursor: str | None = None, limit: int = 20) -> dict[str, Any]:
    """Complaints of customers in scope, newest first; `overdue=True` keeps the open ones past their promise."""
    limit = max(1, min(int(limit or 20), 100))
    where = []
    if customer_no:
        where.append(Customer.archive_no == customer_no)
    if status:
        if status not in STATUS_LABELS:
            raise ValidationFailed([FieldError("status", "invalid_choice",
                                               "可选值：" + "、".join(STATUS_LABELS.values()))])
        where.append(Complaint.status == status)
    if overdue is True:
        where.append(repo.open_past_deadline(today))
    elif overdue is False:
        where.append(~repo.open_past_deadline(today))
    if cursor is not None and (len(cursor) != 32 or not cursor.isalnum()):
        raise ValidationFailed([FieldError("cursor", "invalid_cursor", "分页参数无效")])
    rows = repo.page(session, ctx.principal, where=where, before=cursor, limit=limit + 1)
    nxt = rows[limit - 1][0].id if len(rows) > limit else None
    rows = rows[:limit]
    items = [shown(ctx, c, cu, today=today, only=LIST_FIELDS) for c, cu in rows]
    if items:
        ctx.audit(session, action="complaint.list", target_type="complaint",
                  fields=sorted({f"complaint.{k}" for it in items for k in it if k in LIST_FIELDS}),
                  detail={"records": [c.complaint_no for c, _cu in rows]})
    return {"items": items, "next_cursor": nxt}


def step(session: Session, ctx: Ctx, *, complaint_no: str, name: str | None, data: dict[str, Any],
         today: date, survey_id: str | None = None) -> dict[str, Any]:
    """Apply one workflow step; 409 `invalid_transition` from a state the step does not start from."""
    c, customer = load(session, ctx, complaint_no, for_update=True)
    if name not in STEPS:
        raise ValidationFailed([FieldError("step", "invalid_choice", "处理步骤可选值：" + "、".join(
            f"{s.name}（{s.label}）" for s in STEPS.values()))])
    return apply(session, ctx, c, customer, STEPS[name], data, today=today, survey_id=survey_id)


def apply(session: Session, ctx: Ctx, c: Complaint, customer: Customer, st: Step, data: dict[str, Any], *,
          today: date, survey_id: str | None = None) -> dict[str, Any]:
    """Check the transition, validate the step's fields, write them (history + audit), stage events."""
    if c.status != st.source:
        raise Conflict(f"投诉当前状态为“{STATUS_LABELS[c.status]}”，不能执行“{st.label}”"
                       f"（“{st.label}”只能在“{STATUS_LABELS[st.source]}”状态下进行）", code="invalid_transition",
                       detail={"current": c.status, "step": st.name})
    errors = [FieldError(k, "not_in_step", f"“{st.label}”步骤不能填写该字段") for k in data if k not in st.fields]
    values, errs = check_all(ctx.catalog, "complaint", {k: v for k, v in data.items() if k in st.fields},
                             required=st.required)
    errors += errs
    dept = values.get("responsible_department_id")
    if dept and not repo.department_exists(session, dept):
        errors.append(FieldError("responsible_department_id", "department_not_found", "责任部门不存在"))
    if errors:
        raise ValidationFailed(errors)
    values = {k: v for k, v in values.items() if v is not None}
    values["status"] = st.target
    if st.stamp:
        values[st.stamp] = today
    minor = minor_of(customer)
    policy.require_fields(ctx.principal, "modify", [ctx.catalog.get("complaint", k) for k in values], minor=minor)
    vault = vault_of(ctx, customer)
    reason = f"投诉{st.label}（{c.complaint_no}）"
    changed = []
    for name, new in values.items():
        spec = ctx.catalog.get("complaint", name)
        old = vault.read(c, spec)
        if (None if old is None else to_text(old)) == to_text(new):
            continue
        vault.write(c, spec, new)
        session.add(History(**history_row(vault, spec=spec, customer_id=customer.id, record_id=c.id, op="update",
                                          old=old, new=new, reason=reason, changed_by=ctx.principal.user_id)))
        changed.append(name)
    if survey_id:
        c.survey_id = survey_id
    c.updated_at = utcnow()
    session.flush()
    ctx.audit(session, action=f"complaint.{st.name}", target_type="complaint", target_id=c.id,
              customer_no=customer.archive_no, fields=[f"complaint.{k}" for k in changed], reason=reason,
              detail={"from": st.source, "to": st.target, **({"survey": survey_id} if survey_id else {})})
    events.stage(session, f"complaint.{st.target}", complaint_id=c.id, complaint_no=c.complaint_no,
                 customer_id=customer.id, customer_no=customer.archive_no, by=ctx.principal.user_id,
                 on=today.isoformat())
    return shown(ctx, c, customer, today=today)


def evaluate_from_survey(session: Session, ctx: Ctx, *, complaint_id: str, satisfaction: str, survey_id: str,
                         today: date) -> bool:
    """Fill the satisfaction-evaluation step from a survey answer; False when the complaint is not awaiting it."""
    found = repo.get(session, ctx.principal, complaint_id=complaint_id, for_update=True)
    if found is None or found[0].status != "handled":
        return False
    apply(session, ctx, found[0], found[1], STEPS["evaluate"], {"satisfaction": satisfaction}, today=today,
          survey_id=survey_id)
    return True
