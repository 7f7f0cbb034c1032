"""Satisfaction surveys: questionnaires, sending (manual, after a handled complaint, on schedule), answers.

Scores are the five levels 5=非常满意 … 1=非常不满意; the overall score is the mean of the item
scores. A survey sent for a complaint feeds that complaint's satisfaction-evaluation step when it
is answered. No HTTP; never commits (except the `complaint.handled` subscriber, in its own session).
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kehu import events
from kehu.access import service as access
from kehu.access.models import User
from kehu.access.policy import require_capability
from kehu.catalog.presenter import present, read_fields
from kehu.complaints import repository as complaints_repo
from kehu.complaints import service as complaints
from kehu.customers.models import Customer
from kehu.customers.service import minor_of, vault_of
from kehu.errors import Conflict, FieldError, NotFound, ValidationFailed
from kehu.interactions.service import clean_record, load_customer, require_create, store
from kehu.kit import validate as v
from kehu.kit.ids import new_id
from kehu.runtime import Ctx, Kehu
from kehu.surveys import repository as repo
from kehu.surveys.models import LEVELS, Survey, SurveyAnswer, SurveyItem, SurveyTemplate

log = logging.getLogger("kehu.surveys")
DEFAULT_TEMPLATE = "default"
#: days between scheduled surveys per importance class (customers of other classes are not surveyed on schedule)
DEFAULT_INTERVALS = {"key": 90, "core": 180}
SCORE_OF = {**{k: s for k, _l, s in LEVELS}, **{lab: s for _k, lab, s in LEVELS}}
LEVEL_OF_SCORE = {s: k for k, _l, s in LEVELS}
LABEL_OF_SCORE = {s: lab for _k, lab, s in LEVELS}
SCORE_HELP = "评分：应为1–5（5=非常满意，1=非常不满意）或“非常满意/满意/一般/不满意/非常不满意”"


# questionnaires (company data, managed with `manage_surveys`) -------------------------------

def template_dict(t: SurveyTemplate) -> dict[str, Any]:
    """JSON form of a questionnaire."""
    return {"id": t.id, "code": t.code, "name": t.name, "active": t.active,
            "items": [{"code": i.code, "label": i.label} for i in t.items]}


def list_templates(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Every questionnaire with its items."""
    return [template_dict(t) for t in repo.templates(session)]


def _text(raw: Any, name: str, label: str, length: int, errors: list[FieldError]) -> str | None:
    text = v.normalize_text(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not text:
        errors.append(FieldError(name, "required", f"请填写{label}"))
        return None
    if len(text) > length:
        errors.append(FieldError(name, "too_long", f"{label}：长度不能超过{length}个字符"))
        return None
    return text


def create_template(session: Session, ctx: Ctx, *, data: dict[str, Any]) -> dict[str, Any]:
    """Add a questionnaire with its items (code unique; item codes unique within it)."""
    require_capability(ctx.principal, "manage_surveys")
    errors: list[FieldError] = []
    code = _text(data.get("code"), "code", "问卷编码", 30, errors)
    name = _text(data.get("name"), "name", "问卷名称", 100, errors)
    raw_items = data.get("items") or []
    if not raw_items:
        errors.append(FieldError("items", "required", "请至少填写一个调查项目"))
    items, seen = [], set()
    for n, raw in enumerate(raw_items):
        icode = _text(raw.get("code"), f"items[{n}].code", "项目编码", 30, errors)
        label = _text(raw.get("label"), f"items[{n}].label", "项目名称", 60, errors)
        if icode in seen:
            errors.append(FieldError(f"items[{n}].code", "duplicate", "项目编码重复"))
        seen.add(icode)
        items.append((icode, label))
    if code and repo.template(session, code) is not None:
        errors.append(FieldError("code", "duplicate", "问卷编码已存在"))
    if errors:
        raise ValidationFailed(errors)
    t = SurveyTemplate(id=new_id(), code=code, name=name, active=True)
    t.items = [SurveyItem(id=new_id(), position=n, code=c, label=lab) for n, (c, lab) in enumerate(items, 1)]
    session.add(t)
    session.flush()
    ctx.audit(session, action="survey_template.create", target_type="survey_template", target_id=t.id,
              detail={"code": code, "items": len(items)})
    return template_dict(t)


def update_template(session: Session, ctx: Ctx, *, code: str, data: dict[str, Any]) -> dict[str, Any]:
    """Rename or (de)activate a questionnaire. Items are fixed once created (answers refer to them)."""
    require_capability(ctx.principal, "manage_surveys")
    t = repo.template(session, code)
    if t is None:
        raise NotFound()
    errors: list[FieldError] = []
    if "name" in data:
        t.name = _text(data["name"], "name", "问卷名称", 100, errors) or t.name
    if "active" in data:
        if not isinstance(data["active"], bool):
            errors.append(FieldError("active", "invalid_type", "启用状态应为 true 或 false"))
        else:
            t.active = data["active"]
    if errors:
        raise ValidationFailed(errors)
    ctx.audit(session, action="survey_template.update", target_type="survey_template", target_id=t.id,
              detail={"code": t.code, "changed": sorted(data)})
    return template_dict(t)


# surveys of customers ---------------------------------------------------------------------

def shown(ctx: Ctx, s: Survey, customer: Customer, template: SurveyTemplate | None) -> dict[str, Any]:
    """A survey, with its answers per item, as the caller may see it."""
    vault, minor = vault_of(ctx, customer), minor_of(customer)
    body = {"id": s.id, "customer_no": customer.archive_no,
            "template": template.code if template else None,
            **present(ctx.principal, ctx.catalog, "survey", s, vault, minor=minor).as_dict()}
    items = {i.id: i for i in template.items} if template else {}
    answers = []
    for a in sorted(s.answers, key=lambda a: items[a.item_id].position if a.item_id in items else 0):
        shown_a = present(ctx.principal, ctx.catalog, "survey_answer", a, vault, minor=minor).as_dict()
        item = items.get(a.item_id)
        row = {"item": item.code if item else None, "label": item.label if item else None, **shown_a}
        if isinstance(shown_a.get("score"), int):
            row["level"] = LABEL_OF_SCORE.get(shown_a["score"])
        answers.append(row)
    body["answers"] = answers
    return body


def _send(session: Session, ctx: Ctx, customer: Customer, template: SurveyTemplate, *, trigger: str,
          today: date, complaint_id: str | None = None) -> Survey:
    require_create(ctx, "survey", {"trigger": 1, "status": 1, "sent_on": 1}, minor=minor_of(customer))
    s = Survey(id=new_id(), customer_id=customer.id, template_id=template.id, complaint_id=complaint_id,
               trigger=trigger, status="sent", sent_on=today, created_by=ctx.principal.user_id)
    session.add(s)
    session.flush()
    ctx.audit(session, action="survey.send", target_type="survey", target_id=s.id, customer_no=customer.archive_no,
              fields=["survey.trigger", "survey.status", "survey.sent_on"],
              detail={"template": template.code, "trigger": trigger})
    events.stage(session, "survey.sent", survey_id=s.id, customer_id=customer.id, customer_no=customer.archive_no,
                 complaint_id=complaint_id)
    return s


def _template(session: Session, code: str | None, errors: list[FieldError]) -> SurveyTemplate | None:
    t = repo.template(session, code or DEFAULT_TEMPLATE)
    if t is None or not t.active:
        errors.append(FieldError("template", "template_not_found", "问卷不存在或已停用"))
        return None
    return t


def send(session: Session, ctx: Ctx, *, customer_no: str | None, template: str | None = None,
         complaint_no: str | None = None, today: date) -> dict[str, Any]:
    """Send a questionnaire to a customer in scope (for one of its complaints when `complaint_no` is given)."""
    errors: list[FieldError] = []
    customer = load_customer(session, ctx, customer_no, writing=True) if customer_no else None
    if customer is None:
        errors.append(FieldError("customer_no", "required", "请填写客户档案编号"))
    t = _template(session, template, errors)
    complaint_id = None
    if complaint_no:
        found = complaints_repo.get(session, ctx.principal, complaint_no=complaint_no)
        if found is None or customer is None or found[1].id != customer.id:
            errors.append(FieldError("complaint_no", "complaint_not_found", "投诉不存在或不属于该客户"))
        elif repo.by_complaint(session, found[0].id) is not None:
            errors.append(FieldError("complaint_no", "already_surveyed", "该投诉已发送过满意度调查"))
        else:
            complaint_id = found[0].id
    if errors:
        raise ValidationFailed(errors)
    s = _send(session, ctx, customer, t, trigger="complaint" if complaint_id else "manual", today=today,
              complaint_id=complaint_id)
    return shown(ctx, s, customer, t)


def send_for_complaint(session: Session, ctx: Ctx, *, complaint_id: str, today: date) -> Survey | None:
    """Send the default questionnaire for a handled complaint (idempotent: at most one survey per complaint)."""
    found = complaints_repo.get(session, ctx.principal, complaint_id=complaint_id)
    if found is None or repo.by_complaint(session, complaint_id) is not None:
        return None
    t = repo.template(session, DEFAULT_TEMPLATE)
    if t is None or not t.active:
        return None
    return _send(session, ctx, found[1], t, trigger="complaint", today=today, complaint_id=complaint_id)


def schedule_due(session: Session, ctx: Ctx, *, today: date, intervals: dict[str, int] | None = None,
                 template: str | None = None) -> dict[str, Any]:
    """Send the questionnaire to customers in scope, by importance, whose last survey is at least the interval old."""
    errors: list[FieldError] = []
    t = _template(session, template, errors)
    if errors:
        raise ValidationFailed(errors)
    sent = []
    for importance, days in (intervals or DEFAULT_INTERVALS).items():
        for customer in repo.due_customers(session, ctx.principal, importance=importance,
                                           since=today - timedelta(days=days)):
            s = _send(session, ctx, customer, t, trigger="schedule", today=today)
            sent.append({"id": s.id, "customer_no": customer.archive_no, "importance": importance})
    return {"sent": sent}


def _score(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 1 <= raw <= 5 else None
    if isinstance(raw, str):
        text = v.normalize_text(raw)
        if text in SCORE_OF:
            return SCORE_OF[text]
        if text.isdigit() and 1 <= int(text) <= 5:
            return int(text)
    return None


def answer(session: Session, ctx: Ctx, *, survey_id: str, answers: dict[str, Any], comment: Any = None,
           today: date) -> dict[str, Any]:
    """Record the customer's answers (every item once); overall = mean score; feeds the complaint's evaluation."""
    found = repo.get(session, ctx.principal, survey_id, for_update=True)
    if found is None:
        raise NotFound()
    s, customer = found
    if s.status != "sent":
        raise Conflict("该调查已答复，不能重复答复", code="already_answered")
    t = repo.templates_by_ids(session, {s.template_id})[s.template_id]
    items = {i.code: i for i in t.items}
    errors: list[FieldError] = []
    scores: dict[str, int] = {}
    for code, raw in (answers or {}).items():
        if code not in items:
            errors.append(FieldError(f"answers.{code}", "unknown_item", "问卷中没有该调查项目"))
            continue
        score = _score(raw)
        if score is None:
            errors.append(FieldError(f"answers.{code}", "score_range", f"{items[code].label}：{SCORE_HELP}"))
            continue
        scores[code] = score
    for code, item in items.items():
        if code not in (answers or {}):
            errors.append(FieldError(f"answers.{code}", "required", f"请填写{item.label}的评分"))
    values, errs = clean_record(ctx, "survey", {} if comment is None else {"comment": comment})
    errors += errs
    if errors:
        raise ValidationFailed(errors)
    minor = minor_of(customer)
    require_create(ctx, "survey_answer", {"score": 1}, minor=minor)
    require_create(ctx, "survey", values, minor=minor, also=("overall_score",))
    vault = vault_of(ctx, customer)
    for code, score in scores.items():
        a = SurveyAnswer(id=new_id(), survey_id=s.id, item_id=items[code].id)
        store(ctx, vault, a, "survey_answer", {"score": score})
        s.answers.append(a)
    overall = (Decimal(sum(scores.values())) / len(scores)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    store(ctx, vault, s, "survey", {**{k: val for k, val in values.items() if val is not None},
                                    "overall_score": overall, "status": "answered", "answered_on": today})
    session.flush()
    ctx.audit(session, action="survey.answer", target_type="survey", target_id=s.id,
              customer_no=customer.archive_no,
              fields=["survey_answer.score", "survey.overall_score", "survey.status", "survey.answered_on"]
              + (["survey.comment"] if values.get("comment") else []))
    evaluated = False
    if s.complaint_id:
        level = LEVEL_OF_SCORE[int(overall.quantize(Decimal("1"), rounding=ROUND_HALF_UP))]
        evaluated = complaints.evaluate_from_survey(session, ctx, complaint_id=s.complaint_id, satisfaction=level,
                                                    survey_id=s.id, today=today)
    events.stage(session, "survey.answered", survey_id=s.id, customer_id=customer.id,
                 customer_no=customer.archive_no, complaint_id=s.complaint_id)
    return {**shown(ctx, s, customer, t), "complaint_evaluated": evaluated}


def list_for_customer(session: Session, ctx: Ctx, *, customer_no: str) -> dict[str, Any]:
    """Surveys of a customer in scope with their answers, newest first; audited when any is shown."""
    customer = load_customer(session, ctx, customer_no)
    rows = repo.of_customer(session, customer.id)
    templates = repo.templates_by_ids(session, {s.template_id for s in rows})
    items = [shown(ctx, s, customer, templates.get(s.template_id)) for s in rows]
    if items:
        minor = minor_of(customer)
        fields = [f"survey.{n}" for n in read_fields(ctx.principal, ctx.catalog, "survey", minor=minor)]
        fields += [f"survey_answer.{n}" for n in read_fields(ctx.principal, ctx.catalog, "survey_answer", minor=minor)]
        ctx.audit(session, action="survey.list", target_type="customer", target_id=customer.id,
                  customer_no=customer.archive_no, fields=fields, detail={"records": len(items)})
    return {"items": items}


# the `complaint.handled` subscriber ----------------------------------------------------------

_runtime: dict[str, Kehu] = {}


def _on_handled(evt: events.Event) -> None:
    kehu = _runtime.get("kehu")
    if kehu is None:
        return
    payload = evt.payload
    try:
        with kehu.db.transaction() as session:
            user = session.get(User, payload.get("by"))
            if user is None:
                return
            ctx = Ctx(kehu=kehu, principal=access.build_principal(session, user), catalog=kehu.catalog(session))
            send_for_complaint(session, ctx, complaint_id=payload["complaint_id"],
                               today=date.fromisoformat(payload["on"]))
    except IntegrityError:  # delivered twice concurrently: the unique complaint_id kept one survey
        log.info("survey for complaint %s already sent", payload.get("complaint_id"))


def install(kehu: Kehu) -> None:
    """Send the satisfaction survey when a complaint is handled, on this runtime (one per process; idempotent)."""
    _runtime["kehu"] = kehu
    events.subscribe("complaint.handled", _on_handled)
