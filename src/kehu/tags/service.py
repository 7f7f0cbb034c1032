"""Tag catalogue, rule lifecycle, dry runs, manual tags, customer chips/history and grade explanations.

Rights: `manage_tags` creates tags, writes drafts, activates/retires versions and changes settings;
`review_tags` (the business side) reviews a draft — never the author's own. Customer lists (dry-run
members, history) are limited to the caller's scope and shown through the presenter.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Integer, String, and_, case, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.customers import repository as customers_repo
from kehu.customers import search
from kehu.customers.models import Customer
from kehu.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kehu.kit.ids import new_id
from kehu.runtime import Ctx
from kehu.tags import builtin, engine
from kehu.tags.compiler import Env, check, condition, frame_select
from kehu.tags.language import RuleError
from kehu.tags.models import FAMILIES, CustomerGrade, CustomerTag, Tag, TagHistory, TagRule
from kehu.db import utcnow

#: tags and grades derive from level-2 data (transactions, personal fields): shown to holders of view at level 2
TAG_LEVEL = 2
CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
FAMILY_KEYS = {k for k, _ in FAMILIES}


def today() -> date:
    """The evaluation day (UTC date; order times are UTC)."""
    return utcnow().date()


def rule_env(session: Session, ctx: Ctx, *, as_of: date | None = None) -> Env:
    """Compile environment for this caller: level-1 fields only for holders of reveal at level 1."""
    builtin.ensure(session)
    env = engine.env_for(session, ctx.catalog, as_of or today())
    env.may_use_level1 = ctx.principal.can("reveal", 1)
    return env


def _tag(session: Session, code: str) -> Tag:
    builtin.ensure(session)
    tag = session.execute(select(Tag).where(Tag.code == code)).scalar_one_or_none()
    if tag is None:
        raise NotFound("标签不存在", code="tag_not_found")
    return tag


def _version(session: Session, tag: Tag, version: int) -> TagRule:
    rule = session.execute(select(TagRule).where(TagRule.tag_id == tag.id, TagRule.version == version)).scalar_one_or_none()
    if rule is None:
        raise NotFound("规则版本不存在", code="rule_not_found")
    return rule


def tag_dict(tag: Tag, rules: list[TagRule] | None = None, holders: int | None = None) -> dict[str, Any]:
    """A tag as shown: never any customer value."""
    out = {"code": tag.code, "name": tag.name, "family": tag.family, "family_name": dict(FAMILIES)[tag.family],
           "description": tag.description, "department_id": tag.department_id, "mode": tag.mode,
           "exclusive_group": tag.exclusive_group, "builtin": tag.builtin, "active": tag.active,
           "usage_count": tag.usage_count, "contradiction": tag.contradiction}
    if holders is not None:
        out["holders"] = holders
    if rules is not None:
        out["versions"] = [{"version": r.version, "status": r.status, "expression": r.expression, "note": r.note,
                            "author_id": r.author_id, "reviewed_by": r.reviewed_by,
                            "created_at": r.created_at.isoformat(),
                            "activated_at": r.activated_at.isoformat() if r.activated_at else None}
                           for r in sorted(rules, key=lambda r: -r.version)]
        active = [r for r in rules if r.status == "active"]
        out["active_version"] = active[0].version if active else None
    return out


def list_tags(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """The catalogue with the number of holders of each tag (counts only, no customers)."""
    builtin.ensure(session)
    holders = dict(session.execute(select(CustomerTag.tag_id, func.count()).group_by(CustomerTag.tag_id)).all())
    active = dict(session.execute(select(TagRule.tag_id, TagRule.version).where(TagRule.status == "active")).all())
    tags = session.execute(select(Tag).order_by(Tag.family, Tag.code)).scalars()
    return [{**tag_dict(t, holders=holders.get(t.id, 0)), "active_version": active.get(t.id)} for t in tags]


def get_tag(session: Session, ctx: Ctx, *, code: str) -> dict[str, Any]:
    """One tag with all its rule versions."""
    tag = _tag(session, code)
    rules = list(session.execute(select(TagRule).where(TagRule.tag_id == tag.id)).scalars())
    holders = session.execute(select(func.count()).where(CustomerTag.tag_id == tag.id)).scalar_one()
    return tag_dict(tag, rules, holders)


def create_tag(session: Session, ctx: Ctx, *, data: dict[str, Any]) -> dict[str, Any]:
    """A new tag (manual, or rule-based with a first draft); every bad field named."""
    require_capability(ctx.principal, "manage_tags")
    builtin.ensure(session)
    errors = []
    code = str(data.get("code") or "")
    if not CODE.match(code):
        errors.append(FieldError("code", "invalid", "编码须为小写字母开头的字母、数字或下划线（2–40位）"))
    elif session.execute(select(Tag.id).where(Tag.code == code)).first():
        errors.append(FieldError("code", "duplicate", "编码已被使用"))
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 60:
        errors.append(FieldError("name", "required", "请填写名称（不超过60字）"))
    if data.get("family") not in FAMILY_KEYS:
        errors.append(FieldError("family", "invalid", "类别须为：" + "、".join(f"{k}={v}" for k, v in FAMILIES)))
    mode = data.get("mode") or ("rule" if data.get("expression") else "manual")
    if mode not in ("rule", "manual"):
        errors.append(FieldError("mode", "invalid", "方式须为 rule（规则）或 manual（手工）"))
    if mode == "rule":
        if not data.get("expression"):
            errors.append(FieldError("expression", "required", "规则标签须填写规则"))
        else:
            try:
                check(str(data["expression"]), rule_env(session, ctx))
            except RuleError as exc:
                errors += exc.errors
    if data.get("contradiction"):  # the quality check counts holders for whom it is true: it must compile too
        try:
            check(str(data["contradiction"]), rule_env(session, ctx))
        except RuleError as exc:
            errors += [FieldError("contradiction", e.code, f"矛盾规则{e.message}") for e in exc.errors]
    if errors:
        raise ValidationFailed(errors)
    tag = Tag(id=new_id(), code=code, name=name, family=data["family"], description=data.get("description"),
              department_id=data.get("department_id") or ctx.principal.department_id, mode=mode,
              exclusive_group=data.get("exclusive_group") or None, contradiction=data.get("contradiction") or None)
    session.add(tag)
    session.flush()
    if mode == "rule":
        session.add(TagRule(id=new_id(), tag_id=tag.id, version=1, expression=str(data["expression"]),
                            status="draft", author_id=ctx.principal.user_id, note=data.get("note")))
    ctx.audit(session, action="tag.create", target_type="tag", target_id=tag.id, detail={"code": code})
    return get_tag(session, ctx, code=code)


def save_draft(session: Session, ctx: Ctx, *, code: str, expression: str, note: str | None = None) -> dict[str, Any]:
    """A new draft version, validated against the catalogue and the author's rights (line, column, message)."""
    require_capability(ctx.principal, "manage_tags")
    tag = _tag(session, code)
    if tag.mode != "rule":
        raise Conflict("手工标签没有规则", code="manual_tag")
    check(expression, rule_env(session, ctx))
    last = session.execute(select(func.max(TagRule.version)).where(TagRule.tag_id == tag.id)).scalar() or 0
    session.add(TagRule(id=new_id(), tag_id=tag.id, version=last + 1, expression=expression, status="draft",
                        author_id=ctx.principal.user_id, note=note))
    ctx.audit(session, action="tag.draft", target_type="tag", target_id=tag.id, detail={"version": last + 1})
    session.flush()
    return get_tag(session, ctx, code=code)


def review(session: Session, ctx: Ctx, *, code: str, version: int) -> dict[str, Any]:
    """Business review of a draft (by someone other than its author): draft → reviewed."""
    require_capability(ctx.principal, "review_tags")
    tag = _tag(session, code)
    rule = _version(session, tag, version)
    if rule.status != "draft":
        raise Conflict(f"只有草稿可以审核（当前：{rule.status}）", code="invalid_transition")
    if rule.author_id == ctx.principal.user_id:
        raise Conflict("规则作者不能审核自己的规则", code="self_review")
    rule.status, rule.reviewed_by, rule.reviewed_at = "reviewed", ctx.principal.user_id, utcnow()
    ctx.audit(session, action="tag.review", target_type="tag", target_id=tag.id, detail={"version": version})
    return get_tag(session, ctx, code=code)


def activate(session: Session, ctx: Ctx, *, code: str, version: int) -> dict[str, Any]:
    """Reviewed → active (the previous active version retires); the tag is re-applied to every customer."""
    require_capability(ctx.principal, "manage_tags")
    tag = _tag(session, code)
    rule = _version(session, tag, version)
    if rule.status != "reviewed":
        raise Conflict("只有已审核的规则可以生效", code="invalid_transition")
    now = utcnow()
    for old in session.execute(select(TagRule).where(TagRule.tag_id == tag.id, TagRule.status == "active")).scalars():
        old.status, old.retired_at = "retired", now
    rule.status, rule.activated_by, rule.activated_at = "active", ctx.principal.user_id, now
    session.flush()
    stats = engine.evaluate_all(session, ctx.catalog, as_of=today(), trigger="activation", only=[tag.code])
    ctx.audit(session, action="tag.activate", target_type="tag", target_id=tag.id,
              detail={"version": version, **stats["changes"].get(tag.code, {})})
    return {**get_tag(session, ctx, code=code), "applied": stats["changes"].get(tag.code, {})}


def retire(session: Session, ctx: Ctx, *, code: str, version: int) -> dict[str, Any]:
    """Active/reviewed/draft → retired; retiring the active version removes the tag from its holders."""
    require_capability(ctx.principal, "manage_tags")
    tag = _tag(session, code)
    rule = _version(session, tag, version)
    if rule.status == "retired":
        raise Conflict("该版本已停用", code="invalid_transition")
    was_active = rule.status == "active"
    rule.status, rule.retired_at = "retired", utcnow()
    removed = 0
    if was_active:
        removed = engine.remove_rule_tags(session, tag.id, version=version, reason=f"规则 v{version} 已停用")
    ctx.audit(session, action="tag.retire", target_type="tag", target_id=tag.id,
              detail={"version": version, "removed": removed})
    return {**get_tag(session, ctx, code=code), "removed": removed}


def settings_view(session: Session, ctx: Ctx) -> dict[str, Any]:
    """Rule parameters, grade ranking settings, the evaluation schedule (with the next run) and the last full
    evaluation."""
    from kehu.tags import schedule

    conf = builtin.settings(session)
    st = schedule.status(conf)
    return {"params": conf["params"], "grade": conf["grade"],
            "schedule": {**conf["schedule"], "due": st["due"],
                         "next": st["next"].isoformat() if st["next"] else None},
            "last_full_evaluation": conf["stored"].get("last_full_evaluation"),
            "cuts": conf["stored"].get("grade.cuts")}


def put_settings(session: Session, ctx: Ctx, *, data: dict[str, Any]) -> dict[str, Any]:
    """Change parameters (`params`), ranking rules (`grade`) — positive integers — and the schedule of the full
    evaluation (`schedule`: `period` one of `schedule.PERIODS`, `hour` 0–23); all or nothing."""
    from kehu.tags.schedule import PERIODS

    require_capability(ctx.principal, "manage_tags")
    conf = builtin.settings(session)
    errors = []
    for group in ("params", "grade", "schedule"):
        for key, value in (data.get(group) or {}).items():
            number = isinstance(value, int) and not isinstance(value, bool)
            if key not in conf[group]:
                errors.append(FieldError(f"{group}.{key}", "unknown", "没有这个设置"))
            elif (group, key) == ("schedule", "period"):
                if value not in PERIODS:
                    errors.append(FieldError("schedule.period", "invalid", "评估周期须为" + "、".join(
                        f"{name}（{code}）" for code, name in PERIODS.items()) + "之一"))
            elif (group, key) == ("schedule", "hour"):
                if not number or not 0 <= value <= 23:
                    errors.append(FieldError("schedule.hour", "invalid", "开始时间须为0–23之间的整点"))
            elif not number or not 0 < value <= 36500:
                errors.append(FieldError(f"{group}.{key}", "invalid", "须为1–36500之间的整数"))
    if errors:
        raise ValidationFailed(errors)
    for group, prefix in (("params", "param."), ("grade", "grade."), ("schedule", "schedule.")):
        for key, value in (data.get(group) or {}).items():
            builtin.put(session, prefix + key, value)
    ctx.audit(session, action="tag.settings",
              detail={k: v for k, v in data.items() if k in ("params", "grade", "schedule")})
    session.flush()
    return settings_view(session, ctx)


# --- customers: members, chips, history, manual tags ----------------------------------------------------

def present_members(session: Session, ctx: Ctx, ids: list[str]) -> list[dict[str, Any]]:
    """Archive number and name (masked per the caller's rights) of customers in scope, in the given order."""
    from kehu.catalog.presenter import present
    from kehu.customers.service import minor_of, vault_of

    if not ids:
        return []
    rows = {r.id: r for r in session.connection().execute(
        select(Customer.__table__).where(Customer.id.in_(ids), customers_repo.readable(ctx.principal)))}
    out = []
    for cid in ids:
        if cid in rows:
            c = rows[cid]
            shown = present(ctx.principal, ctx.catalog, "customer", c, vault_of(ctx, c), minor=minor_of(c),
                            only=["archive_no", "name"])
            out.append(shown.as_dict())
    return out


def dry_run(session: Session, ctx: Ctx, *, code: str, expression: str | None = None, version: int | None = None,
            limit: int = 20) -> dict[str, Any]:
    """How many customers a draft tags, which ones in the caller's scope, and the difference to the active version."""
    require_capability(ctx.principal, "manage_tags")
    tag = _tag(session, code)
    if expression is None:
        expression = _version(session, tag, version or 0).expression if version else None
    if not expression:
        raise ValidationFailed([FieldError("expression", "required", "请填写规则或选择版本")])
    env = rule_env(session, ctx)
    draft = check(expression, env)
    active = session.execute(select(TagRule.expression).where(TagRule.tag_id == tag.id, TagRule.status == "active")).scalar()
    rules = [draft] + ([check(active, engine.env_for(session, ctx.catalog, env.as_of))] if active else [])
    # the frame (every customer's aggregates: seconds on a large store) is computed once, into a temporary table
    # of the customers either version tags; the counts and the member lists read that
    fr = frame_select(rules, env.as_of).subquery("fr")
    flag = lambda c: case((c, 1), else_=0)  # noqa: E731  (a NULL condition tags no one)
    hit = engine.temp_table("tag_dry_run", [Column("customer_id", String(32), primary_key=True),
                                            Column("new", Integer), Column("old", Integer)])
    conn = session.connection()
    hit.drop(conn, checkfirst=True)
    hit.create(conn)
    new_f, old_f = flag(condition(draft, fr, env)), flag(condition(rules[1], fr, env)) if active else literal(0)
    conn.execute(insert(hit).from_select(["customer_id", "new", "old"], select(fr.c.customer_id, new_f, old_f)
                                         .where(or_(new_f == 1, old_f == 1))))
    new_c, old_c = hit.c.new == 1, hit.c.old == 1
    gained, lost = and_(new_c, ~old_c), and_(old_c, ~new_c)
    in_scope = hit.c.customer_id.in_(select(Customer.id).where(customers_repo.readable(ctx.principal)))
    n = conn.execute(select(*(func.coalesce(func.sum(case((w, 1), else_=0)), 0) for w in (
        new_c, and_(new_c, in_scope), old_c, gained, lost)))).one()

    def ids(where) -> list[str]:
        return [r[0] for r in conn.execute(select(hit.c.customer_id).where(where, in_scope)
                                           .order_by(hit.c.customer_id).limit(limit))]
    out: dict[str, Any] = {"count": n[0], "count_in_scope": n[1], "members": present_members(session, ctx, ids(new_c))}
    if active:
        out["vs_active"] = {"active_count": n[2], "gained": n[3], "lost": n[4],
                            "gained_members": present_members(session, ctx, ids(gained)),
                            "lost_members": present_members(session, ctx, ids(lost))}
    hit.drop(conn)
    ctx.audit(session, action="tag.dry_run", target_type="tag", target_id=tag.id,
              detail={"records": [m["archive_no"] for m in out["members"]]})
    return out


def _customer(session: Session, ctx: Ctx, archive_no: str):
    row = customers_repo.row_by_no(session, ctx.principal, archive_no)
    if row is None:
        raise NotFound()
    return row


def chips(session: Session, customer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Tags (name, family, source) and grade/stars of customers, for list and archive chips."""
    out: dict[str, dict[str, Any]] = {cid: {"tags": [], "grade": None, "stars": None} for cid in customer_ids}
    if not customer_ids:
        return out
    for cid, code, name, family, source in session.execute(
            select(CustomerTag.customer_id, Tag.code, Tag.name, Tag.family, CustomerTag.source)
            .join(Tag, Tag.id == CustomerTag.tag_id).where(CustomerTag.customer_id.in_(customer_ids))
            .order_by(Tag.family, Tag.code)):
        out[cid]["tags"].append({"code": code, "name": name, "family": family, "source": source})
    for cid, grade, stars in session.execute(select(CustomerGrade.customer_id, CustomerGrade.grade, CustomerGrade.stars)
                                             .where(CustomerGrade.customer_id.in_(customer_ids))):
        out[cid]["grade"], out[cid]["stars"] = grade, stars
    return out


def chips_by_archive(session: Session, principal, archive_nos: list[str]) -> dict[str, dict[str, Any]]:
    """Chips keyed by archive number, for callers who may see level-2 data (tags derive from it); else none."""
    if not principal.can("view", TAG_LEVEL):
        return {}
    ids = dict(session.execute(select(Customer.id, Customer.archive_no).where(Customer.archive_no.in_(archive_nos))).all()) \
        if archive_nos else {}
    return {no: ch for cid, ch in chips(session, list(ids)).items() for no in [ids[cid]]}


def filter_options(session: Session) -> list[tuple[str, str]]:
    """(code, name) of active tags, for the list filter."""
    return [tuple(r) for r in session.execute(select(Tag.code, Tag.name).where(Tag.active.is_(True))
                                               .order_by(Tag.family, Tag.code))]


def _has_tag(_session: Session, _ctx: Ctx, code: str):
    return Customer.id.in_(select(CustomerTag.customer_id).join(Tag, Tag.id == CustomerTag.tag_id)
                           .where(Tag.code == code))


def _has_grade(_session: Session, _ctx: Ctx, grade: str):
    return Customer.id.in_(select(CustomerGrade.customer_id).where(CustomerGrade.grade == grade))


# the customer list (and so its API, web page and exports) filters by tag and grade
search.EXTRA_FILTERS.update(tag=("标签", _has_tag), grade=("客户等级", _has_grade))


def customer_tags(session: Session, ctx: Ctx, *, archive_no: str) -> dict[str, Any]:
    """A customer's tags, grade and recent tag history (in scope only)."""
    c = _customer(session, ctx, archive_no)
    if not ctx.principal.can("view", TAG_LEVEL):
        raise Forbidden("无权查看客户标签", code="forbidden_view")
    data = chips(session, [c.id])[c.id]
    hist = session.execute(select(TagHistory, Tag.code, Tag.name).join(Tag, Tag.id == TagHistory.tag_id)
                           .where(TagHistory.customer_id == c.id).order_by(TagHistory.seq.desc()).limit(50)).all()
    data["history"] = [{"tag": code, "name": name, "change": h.change, "at": h.at.isoformat(),
                        "rule_version": h.rule_version, "trigger": h.trigger, "reason": h.reason}
                       for h, code, name in hist]
    ctx.audit(session, action="tag.customer", target_type="customer", target_id=c.id, customer_no=c.archive_no)
    return data


def set_manual(session: Session, ctx: Ctx, *, archive_no: str, code: str, on: bool, reason: str | None) -> dict:
    """Give or take a manual tag (needs modify on level 2 and the customer in scope); recorded in the history."""
    c = _customer(session, ctx, archive_no)
    if not ctx.principal.can("modify", 2):
        raise Forbidden("无权修改客户标签", code="forbidden_modify")
    tag = _tag(session, code)
    if tag.mode != "manual":
        raise Conflict("规则标签由规则自动维护，不能手工设置", code="rule_tag")
    if not (reason or "").strip():
        raise ValidationFailed([FieldError("reason", "required", "请填写原因")])
    held = session.get(CustomerTag, (c.id, tag.id))
    now = utcnow()
    if on and held is None:
        session.add(CustomerTag(customer_id=c.id, tag_id=tag.id, source="manual", since=now,
                                assigned_by=ctx.principal.user_id))
    elif not on and held is not None:
        session.delete(held)
    else:
        raise Conflict("标签状态未变化", code="unchanged")
    session.add(TagHistory(customer_id=c.id, tag_id=tag.id, change="gained" if on else "lost", at=now,
                           trigger="manual", actor_id=ctx.principal.user_id, reason=reason.strip()[:500]))
    ctx.audit(session, action="tag.manual", target_type="customer", target_id=c.id, customer_no=c.archive_no,
              reason=reason, detail={"tag": code, "on": on})
    session.flush()
    engine.evaluate_customers(session, ctx.catalog, [c.id], as_of=today(), trigger="manual",
                              actor_id=ctx.principal.user_id)  # grades read VIP
    return customer_tags(session, ctx, archive_no=archive_no)


def _within(value, customer_id: str, cut: list | None) -> bool:
    """Python twin of `engine.within` (value desc, older customer first), for explanations."""
    if not cut or value is None or float(value) <= 0:
        return False
    v = float(cut[0])
    return float(value) > v or (float(value) == v and customer_id <= cut[1])


def explain_grade(session: Session, ctx: Ctx, *, archive_no: str) -> dict[str, Any]:
    """Why a customer has its grade, stars and RFM scores (amounts only for callers who see level-2 data)."""
    c = _customer(session, ctx, archive_no)
    if not ctx.principal.can("view", TAG_LEVEL):
        raise Forbidden("无权查看客户等级", code="forbidden_view")
    g = session.get(CustomerGrade, c.id)
    conf = builtin.settings(session)
    cuts = conf["stored"].get("grade.cuts") or {}
    ranks, period = conf["grade"], conf["params"]["grade_period_days"]
    figures = ctx.principal.can("view", 2)
    ctx.audit(session, action="tag.explain", target_type="customer", target_id=c.id, customer_no=c.archive_no,
              fields=["order.total_amount"] if figures else [])
    if g is None:
        return {"grade": None, "stars": None, "reasons": ["尚未评估（运行 kehu tags evaluate 后生成）"]}

    def money(v) -> str:
        return f"¥{float(v):,.2f}" if figures and v is not None else ""
    reasons = []
    if g.grade == "A":
        if g.vip:
            reasons.append("被指定为VIP客户（A级包含全部VIP）")
        if _within(g.spend_q, c.id, cuts.get("a_spend")):
            reasons.append(f"近{period}天消费额排名前{ranks['a_top']}" +
                           (f"（{money(g.spend_q)}，第{ranks['a_top']}名为{money(cuts['a_spend'][0])}）" if figures else ""))
    elif g.grade == "B":
        if _within(g.spend_q, c.id, cuts.get("b_spend")):
            reasons.append(f"近{period}天消费额排名第{ranks['a_top'] + 1}–{ranks['b_top']}名" +
                           (f"（{money(g.spend_q)}）" if figures else ""))
        if _within(g.freq_q, c.id, cuts.get("b_freq")):
            reasons.append(f"近{period}天购买次数排名前{ranks['b_freq_top']}" + (f"（{g.freq_q}次）" if figures else ""))
    elif g.grade == "C":
        reasons.append("近365天有消费，具备消费能力" + (f"（{money(g.spend_y)}）" if figures else ""))
    elif g.grade == "D":
        reasons.append("潜在客户：尚未成交，但有商机或合作意向")
    else:
        reasons.append("未满足任何等级条件（近365天无消费，也不是潜在客户）")
    rfm = (f"RFM：最近购买 R={g.r}、频次 F={g.f}、金额 M={g.m}（1–5分，按购买客户的五分位）" if g.r
           else "RFM：从未购买，无评分")
    stars = f"星级 {g.stars}：按 F 与 M 的平均分" + ("，潜在客户加1星" if g.potential else "") + "，最低1星、最高5星"
    # a full evaluation rewrites only changed grades: an unchanged row was confirmed by the last one
    full = (conf["stored"].get("last_full_evaluation") or {}).get("at")
    at = max(g.evaluated_at, datetime.fromisoformat(full)) if full else g.evaluated_at
    return {"grade": g.grade, "stars": g.stars, "r": g.r, "f": g.f, "m": g.m, "reasons": reasons,
            "rfm": rfm, "stars_reason": stars, "evaluated_at": at.isoformat()}
