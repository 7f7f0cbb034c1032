"""The periodic security check (定期安全检查) for 审计员: grants, level-1 access, dormant accounts,
catalogue changes, failed logins and lock-outs, open alerts and the audit chain status — a page and Excel."""
from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kehu.access.models import CAPABILITIES, Role, User
from kehu.access.policy import require_capability
from kehu.audit.chain import verify as verify_chain
from kehu.audit.models import AuditEntry
from kehu.catalog.models import CatalogOverride
from kehu.catalog.spec import ACTIONS, LEVELS
from kehu.errors import FieldError, ValidationFailed
from kehu.runtime import Ctx
from kehu.supervision import rules as R
from kehu.supervision.models import Alert

LOG = AuditEntry.__table__.c
MAX_DAYS = 366


def build(session: Session, ctx: Ctx, *, since: datetime, until: datetime, verify: bool = True) -> dict:
    """The security check report for [since, until) (UTC datetimes)."""
    require_capability(ctx.principal, "read_audit")
    try:
        since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
        bad = until <= since or until - since > timedelta(days=MAX_DAYS) or until.year > 9000
    except (OverflowError, ValueError):
        bad = True
    if bad:
        raise ValidationFailed([FieldError("until", "invalid_range", "截止时间须晚于起始时间，且期间不超过一年")])
    period = (LOG.ts >= since, LOG.ts < until)
    out = {"since": since.isoformat(), "until": until.isoformat(),
           "generated_at": datetime.now(timezone.utc).isoformat(),
           "grants": _grants(session), "level1_access": _level1(session, ctx, period),
           "dormant": _dormant(session, until, R.effective(session)["dormant_active"].limit),
           "catalog_changes": _catalog_changes(session, period), "logins": _logins(session, period, until),
           "alerts": _alerts(session, since, until),
           "chain": verify_chain(session, ctx.kehu.audit).as_dict() if verify else None}
    ctx.audit(session, action="supervision.report", detail={"since": out["since"], "until": out["until"]})
    return out


def _grants(session: Session) -> list[dict]:
    users = defaultdict(list)
    for role_id, username, active in session.execute(select(User.role_id, User.username, User.active)
                                                     .order_by(User.username)):
        users[role_id].append({"username": username, "active": active})
    out = []
    for role in session.execute(select(Role).order_by(Role.builtin.desc(), Role.code)).scalars():
        held = {(g.action, g.level) for g in role.grants}
        out.append({"code": role.code, "name": role.name, "scope": role.scope,
                    "capabilities": sorted(role.capability_set & set(CAPABILITIES)),
                    "importance": sorted(role.importance_set),
                    "grants": {a: [lv for lv in LEVELS if (a, lv) in held] for a in ACTIONS},
                    "users": users[role.id], "user_count": len(users[role.id])})
    return out


def _level1(session: Session, ctx: Ctx, period) -> list[dict]:
    """Per user: reveals of level-1 fields in plain text and reads that touched level-1 fields (masked)."""
    l1 = R.level1_fields(ctx.catalog)
    rows = session.execute(
        select(LOG.actor_id, func.max(LOG.actor_name), LOG.action, LOG.fields, func.count(),
               func.count(LOG.customer_no.distinct()))
        .where(*period, LOG.outcome == "ok", LOG.actor_id.is_not(None), l1)
        .group_by(LOG.actor_id, LOG.action, LOG.fields)).all()
    keys = set(R.level1_keys(ctx.catalog))
    per: dict[str, dict] = {}
    for uid, name, action, fields, n, customers in rows:
        item = per.setdefault(uid, {"user_id": uid, "username": name, "reveals": 0, "reads": 0,
                                    "customers": 0, "fields": Counter()})
        item["reveals" if action.endswith(".reveal") else "reads"] += n
        item["customers"] = max(item["customers"], customers)  # a lower bound across actions and field sets
        for key in (fields or "").split(","):
            if key in keys:
                item["fields"][key] += n
    out = []
    for item in sorted(per.values(), key=lambda i: (-i["reveals"], -i["reads"], i["username"] or "")):
        item["fields"] = [{"key": k, "label": ctx.catalog.fields[k].label, "count": c}
                          for k, c in item["fields"].most_common()]
        out.append(item)
    return out


def _dormant(session: Session, until: datetime, days: int) -> list[dict]:
    """Active accounts without a successful action in the `days` before the end of the period."""
    last = select(LOG.ts).where(LOG.actor_id == User.id, LOG.outcome == "ok", LOG.ts < until) \
        .order_by(LOG.seq.desc()).limit(1).scalar_subquery()  # one walk down the (actor_id, seq) index each
    cutoff = until - timedelta(days=days)
    out = []
    for user, when in session.execute(select(User, last).where(User.active.is_(True)).order_by(User.username)):
        if (when or user.created_at) < cutoff:
            out.append({"username": user.username, "display_name": user.display_name, "role": user.role.name,
                        "last_activity": when.isoformat() if when else None,
                        "created_at": user.created_at.isoformat()})
    return out


def _catalog_changes(session: Session, period) -> dict:
    changes = session.execute(select(AuditEntry).where(*period, LOG.action.like("admin.catalog.%"))
                              .order_by(AuditEntry.seq)).scalars()
    overrides = session.execute(select(CatalogOverride)).scalars()
    return {"changes": [{"seq": e.seq, "ts": e.ts.isoformat(), "by": e.actor_name, "target": e.target_id,
                         "reason": e.reason, "detail": json.loads(e.detail) if e.detail else None}
                        for e in changes],
            "overrides": [{"key": o.key, "level": o.level, "mask": o.mask} for o in overrides]}


def _logins(session: Session, period, until: datetime) -> dict:
    rows = session.execute(select(LOG.actor_name, LOG.outcome, LOG.detail, func.count())
                           .where(*period, LOG.action == "auth.login", LOG.outcome != "ok")
                           .group_by(LOG.actor_name, LOG.outcome, LOG.detail)).all()
    failed: Counter = Counter()
    lockouts: Counter = Counter()
    for name, _outcome, detail, n in rows:
        failed[name or "-"] += n
        if detail and '"locked": true' in detail:
            lockouts[name or "-"] += n
    alarm_locks = session.execute(select(LOG.target_id, func.count()).where(*period, LOG.action == "admin.user.lock")
                                  .group_by(LOG.target_id)).all()
    names = dict(session.execute(select(User.id, User.username)).all())
    for uid, n in alarm_locks:
        lockouts[names.get(uid, uid)] += n
    locked_now = session.execute(select(User.username).where(User.locked_until > until - timedelta(0))
                                 .order_by(User.username)).scalars().all()
    return {"failed": [{"username": k, "count": v} for k, v in failed.most_common()],
            "lockouts": [{"username": k, "count": v} for k, v in lockouts.most_common()],
            "locked_now": list(locked_now)}


def _alerts(session: Session, since: datetime, until: datetime) -> dict:
    raised = session.execute(select(Alert.rule, func.count()).where(Alert.window_end > since,
                                                                    Alert.window_start < until)
                             .group_by(Alert.rule)).all()
    open_ = session.execute(select(Alert).where(Alert.status != "closed").order_by(Alert.id.desc())).scalars()
    return {"by_rule": [{"rule": r, "name": R.NAMES.get(r, r), "count": n} for r, n in sorted(raised)],
            "open": [{"id": a.id, "rule": a.rule, "name": R.NAMES.get(a.rule, a.rule), "user": a.user_name or a.subject,
                      "count": a.count, "status": a.status, "window_start": a.window_start.isoformat()}
                     for a in open_]}


def to_xlsx(report: dict) -> bytes:
    """The report as an Excel workbook, one sheet per section (openpyxl)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "概要"
    chain = report["chain"] or {}
    _sheet(ws, ["项目", "内容（北京时间）"], [
        ["期间起", _local(report["since"])], ["期间止", _local(report["until"])],
        ["生成时间", _local(report["generated_at"])],
        ["审计链", "完整" if chain.get("ok") else f"异常：{chain.get('problem')}"],
        ["已校验记录", chain.get("checked")], ["未关闭报警", len(report["alerts"]["open"])],
        ["长期未用账户", len(report["dormant"])]])
    _sheet(wb.create_sheet("角色与授权"), ["角色", "代码", "数据范围", "权限", "查看", "查看明文", "填写", "修改", "删除",
                                      "导出", "共享", "用户数", "用户"],
           [[g["name"], g["code"], g["scope"], "、".join(g["capabilities"])]
            + [",".join(map(str, g["grants"].get(a, []))) for a in ACTIONS]
            + [g["user_count"], "、".join(u["username"] for u in g["users"])] for g in report["grants"]])
    _sheet(wb.create_sheet("一级信息访问"), ["用户", "明文查看次数", "其他访问次数（掩码读取、填写、修改）", "客户数", "字段"],
           [[i["username"], i["reveals"], i["reads"], i["customers"],
             "、".join(f"{f['label']}×{f['count']}" for f in i["fields"])] for i in report["level1_access"]])
    _sheet(wb.create_sheet("长期未用账户"), ["用户", "姓名", "角色", "最后活动", "创建时间"],
           [[d["username"], d["display_name"], d["role"], _local(d["last_activity"]) or "从未",
             _local(d["created_at"])] for d in report["dormant"]])
    _sheet(wb.create_sheet("分类分级变更"), ["序号", "时间", "操作人", "字段", "原因"],
           [[c["seq"], _local(c["ts"]), c["by"], c["target"], c["reason"]]
            for c in report["catalog_changes"]["changes"]])
    logins = report["logins"]
    failed = {f["username"]: f["count"] for f in logins["failed"]}
    locks = {f["username"]: f["count"] for f in logins["lockouts"]}
    _sheet(wb.create_sheet("登录失败与锁定"), ["用户", "登录失败次数", "锁定次数", "当前锁定"],
           [[n, failed.get(n, 0), locks.get(n, 0), "是" if n in logins["locked_now"] else ""]
            for n in sorted(set(failed) | set(locks) | set(logins["locked_now"]))])
    _sheet(wb.create_sheet("未关闭报警"), ["规则", "用户", "次数", "状态", "时段起"],
           [[a["name"], a["user"], a["count"], a["status"], _local(a["window_start"])]
            for a in report["alerts"]["open"]])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _local(iso: str | None) -> str | None:
    """An ISO UTC time as Beijing time for the workbook (北京时间)."""
    if not iso:
        return None
    return datetime.fromisoformat(iso).astimezone(timezone(timedelta(hours=R.TZ_HOURS))).strftime("%Y-%m-%d %H:%M")


def _sheet(ws, header: list, rows: list[list]) -> None:
    ws.append(header)
    for row in rows:  # text starting like a formula stays text (no formula injection through reasons or names)
        ws.append(["'" + v if isinstance(v, str) and v[:1] in "=+-@" else v for v in row])
