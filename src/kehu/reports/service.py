"""The reports (SPEC §7): customer growth, regions, complaints, sales and receivables — within the viewer's scope.

Every figure is summed over cells whose customer is inside `readable(principal)` (see `repository`),
so a report never counts a customer the viewer could not list. Amounts are shown only where the viewer
sees the underlying field in plain (`order.total_amount`, `payment_plan.amount`, `payment.amount`,
`complaint.loss_amount`); otherwise they are withheld (null, listed in `withheld`). A viewer without
any view grant gets 403. Each report view is audited `report.<name>` with the field keys it drew on.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.complaints.models import HANDLINGS, KINDS
from kehu.errors import Forbidden, NotFound, ValidationFailed
from kehu.reports import period as periods
from kehu.reports import repository as repo
from kehu.reports.models import PaymentCell, PlanCell, SalesCell
from kehu.runtime import Ctx

REPORTS = {"growth": "客户增减分析", "region": "客户区域分析", "complaints": "投诉统计", "sales": "销售与回款"}
UNKNOWN = "未填写"
NO_OWNER = "（无负责人）"
NO_DEPARTMENT = "（无部门）"


def params(*, period: str | None, as_of: str | None = None, today: date) -> tuple[periods.Period, date]:
    """Validated period and day; 422 naming every bad parameter."""
    p, perr = periods.parse(period, today=today)
    day, derr = periods.parse_day(as_of, "as_of", default=today)
    errors = [e for e in (perr, derr) if e]
    if errors:
        raise ValidationFailed(errors)
    return p, day


def _money(cents: int | None) -> str | None:
    return None if cents is None else str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _share(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def _change(now: int, before: int) -> float | None:
    return round((now - before) * 100 / before, 2) if before else None


def _plain(ctx: Ctx, key: str) -> bool:
    entity, name = key.split(".")
    return policy.display_state(ctx.principal, ctx.catalog.get(entity, name)) == "plain"


def _require(ctx: Ctx, keys: list[str]) -> None:
    """The viewer must see customers at all and the fields a report is grouped by."""
    if not ctx.principal.sees_customers:
        raise Forbidden("无权查看报表", code="forbidden_view")
    hidden = []
    for key in keys:
        entity, name = key.split(".")
        spec = ctx.catalog.get(entity, name)
        if policy.display_state(ctx.principal, spec) == "hidden":
            hidden.append(spec.label)
    if hidden:
        raise Forbidden(f"无权查看以下字段：{'、'.join(hidden)}", code="forbidden_view")


def _table(key: str, title: str, columns: list[tuple[str, str]], rows: list[dict]) -> dict:
    return {"key": key, "title": title, "columns": [{"key": k, "label": label} for k, label in columns],
            "rows": rows}


def _result(ctx: Ctx, session: Session, name: str, p: periods.Period, tables: list[dict], fields: list[str],
            withheld: list[str], **extra: Any) -> dict:
    body = {"report": name, "title": REPORTS[name], "period": p.as_dict(), "previous": p.previous().as_dict(),
            "tables": tables, "withheld": withheld, "fields": fields, **extra}
    if not ctx.extra.get("report_export"):  # an export is audited once, as report.export
        ctx.audit(session, action=f"report.{name}", target_type="report", target_id=name, fields=fields,
                  detail={"period": p.label, **{k: v for k, v in extra.items() if k == "as_of"}})
    return body


# --- 客户增减分析 ----------------------------------------------------------------------------------

def growth(session: Session, ctx: Ctx, *, period: periods.Period) -> dict:
    """Original, new, removed (archived) and current customers, direct vs indirect, this vs last period."""
    fields = ["customer.status", "customer.source_channel"]
    _require(ctx, fields)
    figures = {}
    for which, p in (("this", period), ("last", period.previous())):
        rows = repo.growth(session, ctx.principal, start=p.months[0], end=p.months[1])
        seg = {"direct": [0, 0, 0, 0], "indirect": [0, 0, 0, 0]}
        for indirect, *counts in rows:
            seg["indirect" if indirect else "direct"] = [int(x) for x in counts]
        seg["all"] = [a + b for a, b in zip(seg["direct"], seg["indirect"])]
        figures[which] = seg
    names = {"all": "全部客户", "direct": "直接客户", "indirect": "间接客户（渠道/介绍）"}
    measures = ("original", "new", "removed", "current")
    rows = []
    for seg in ("all", "direct", "indirect"):
        row: dict[str, Any] = {"segment": seg, "segment_name": names[seg]}
        for i, m in enumerate(measures):
            row[m] = figures["this"][seg][i]
            row[f"{m}_last"] = figures["last"][seg][i]
        row["current_change_pct"] = _change(row["current"], row["current_last"])
        row["new_change_pct"] = _change(row["new"], row["new_last"])
        rows.append(row)
    cols = [("segment_name", "客户类别"), ("original", "期初客户"), ("new", "新增客户"), ("removed", "减少客户（归档）"),
            ("current", "期末客户"), ("original_last", "上期期初"), ("new_last", "上期新增"),
            ("removed_last", "上期减少"), ("current_last", "上期期末"), ("new_change_pct", "新增环比(%)"),
            ("current_change_pct", "期末环比(%)")]
    return _result(ctx, session, "growth", period, [_table("summary", "客户增减", cols, rows)],
                   ["customer.created_at", *fields], [])


# --- 客户区域分析 ----------------------------------------------------------------------------------

def region(session: Session, ctx: Ctx, *, period: periods.Period) -> dict:
    """Customers at the end of the period and signed sales in it, per province and city, with shares."""
    fields = ["customer.province", "customer.city"]
    _require(ctx, fields)
    amounts = _plain(ctx, "order.total_amount")
    start, end = period.months
    people = repo.region_customers(session, ctx.principal, end=end)
    sales = repo.region_sales(session, ctx.principal, start=start, end=end)
    cities: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for prov, city, n in people:
        cities[(prov, city)][0] += int(n)
    for prov, city, n, cents in sales:
        cities[(prov, city)][1] += int(n)
        cities[(prov, city)][2] += int(cents or 0)
    provinces: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (prov, _city), v in cities.items():
        for i in range(3):
            provinces[prov][i] += v[i]
    total_c = sum(v[0] for v in cities.values())
    total_s = sum(v[2] for v in cities.values())

    def row(v: list[int], **names: str) -> dict:
        out = {**names, "customers": v[0], "customer_share_pct": _share(v[0], total_c), "orders": v[1]}
        out["sales"] = _money(v[2]) if amounts else None
        out["sales_share_pct"] = _share(v[2], total_s) if amounts else None
        return out

    prov_rows = [row(v, province=p or UNKNOWN) for p, v in sorted(provinces.items(), key=lambda kv: (-kv[1][0], kv[0]))]
    city_rows = [row(v, province=p or UNKNOWN, city=c or UNKNOWN)
                 for (p, c), v in sorted(cities.items(), key=lambda kv: (-kv[1][0], kv[0]))]
    common = [("customers", "客户数"), ("customer_share_pct", "客户占比(%)"), ("orders", "签约订单数"),
              ("sales", "销售额(元)"), ("sales_share_pct", "销售额占比(%)")]
    tables = [_table("provinces", "按省份", [("province", "省份"), *common], prov_rows),
              _table("cities", "按城市", [("province", "省份"), ("city", "城市"), *common], city_rows)]
    used = fields + ["customer.created_at", "customer.status", "order.status"] + (["order.total_amount"] if amounts else [])
    return _result(ctx, session, "region", period, tables, used, [] if amounts else ["order.total_amount"],
                   totals={"customers": total_c, "sales": _money(total_s) if amounts else None})


# --- 投诉统计 ------------------------------------------------------------------------------------------

def complaints(session: Session, ctx: Ctx, *, period: periods.Period) -> dict:
    """Complaints received in the period by type, responsible department and handling method, with losses."""
    fields = ["complaint.kind", "complaint.received_on", "complaint.status"]
    _require(ctx, fields)
    loss = _plain(ctx, "complaint.loss_amount")
    handling = policy.display_state(ctx.principal, ctx.catalog.get("complaint", "handling")) != "hidden"
    dept_shown = policy.display_state(ctx.principal, ctx.catalog.get("complaint", "responsible_department_id")) != "hidden"
    _users, departments = ctx.names(session)
    kinds, handlings = dict(KINDS), dict(HANDLINGS)
    start, end = period.months
    this = repo.complaints(session, ctx.principal, start=start, end=end)
    pstart, pend = period.previous().months
    last = repo.complaints(session, ctx.principal, start=pstart, end=pend)

    def group(rows, index: int, label) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for r in rows:
            v = out[label(r[index])]
            v[0] += int(r[3])
            v[1] += int(r[4])
            v[2] += int(r[5] or 0)
        return out

    total = sum(int(r[3]) for r in this)

    def table(key: str, title: str, head: str, index: int, label) -> dict:
        now, before = group(this, index, label), group(last, index, label)
        rows = []
        for name in sorted(set(now) | set(before), key=lambda k: -now.get(k, [0])[0]):
            v, w = now.get(name, [0, 0, 0]), before.get(name, [0, 0, 0])
            rows.append({"name": name, "complaints": v[0], "share_pct": _share(v[0], total), "closed": v[1],
                         "loss": _money(v[2]) if loss else None, "complaints_last": w[0],
                         "change_pct": _change(v[0], w[0])})
        cols = [("name", head), ("complaints", "投诉数"), ("share_pct", "占比(%)"), ("closed", "已结案"),
                ("loss", "损失金额(元)"), ("complaints_last", "上期投诉数"), ("change_pct", "环比(%)")]
        return _table(key, title, cols, rows)

    tables = [table("kinds", "按投诉类型", "投诉类型", 0, lambda k: kinds.get(k, k))]
    used = list(fields)
    if dept_shown:
        tables.append(table("departments", "按责任部门", "责任部门", 2,
                            lambda d: departments.get(d, d) if d else "（未指定）"))
        used.append("complaint.responsible_department_id")
    if handling:
        tables.append(table("handlings", "按处理方式", "处理方式", 1, lambda h: handlings.get(h, h) if h else "（未处理）"))
        used.append("complaint.handling")
    if loss:
        used.append("complaint.loss_amount")
    withheld = [k for k, shown in (("complaint.loss_amount", loss), ("complaint.handling", handling),
                                   ("complaint.responsible_department_id", dept_shown)) if not shown]
    return _result(ctx, session, "complaints", period, tables, used, withheld,
                   totals={"complaints": total, "complaints_last": sum(int(r[3]) for r in last),
                           "loss": _money(sum(int(r[5] or 0) for r in this)) if loss else None})


# --- 销售与回款 -------------------------------------------------------------------------------------------

def sales(session: Session, ctx: Ctx, *, period: periods.Period, as_of: date) -> dict:
    """Signed sales (this vs last period), planned and received payments and overdue receivables per owner/department."""
    fields = ["customer.owner_id", "customer.department_id", "order.status"]
    _require(ctx, fields)
    shown = {k: _plain(ctx, k) for k in ("order.total_amount", "payment_plan.amount", "payment.amount")}
    start, end = period.months
    pstart, pend = period.previous().months
    p = ctx.principal
    data = {"sales": repo.flows(session, p, SalesCell, start=start, end=end),
            "sales_last": repo.flows(session, p, SalesCell, start=pstart, end=pend),
            "planned": repo.flows(session, p, PlanCell, start=start, end=end),
            "received": repo.flows(session, p, PaymentCell, start=start, end=end),
            "overdue": repo.overdue(session, p, as_of=as_of)}
    amount_key = {"sales": "order.total_amount", "sales_last": "order.total_amount", "planned": "payment_plan.amount",
                  "received": "payment.amount", "overdue": "payment_plan.amount"}
    users, departments = ctx.names(session)

    def rows_by(index: int, label) -> list[dict]:
        acc: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for measure, cells in data.items():
            for key, (n, cents) in cells.items():
                v = acc[key[index]][measure]
                v[0] += n
                v[1] += cents
        out = []
        for k, m in acc.items():
            row: dict[str, Any] = {"id": k, "name": label(k), "orders": m["sales"][0], "orders_last": m["sales_last"][0],
                                   "overdue_orders": m["overdue"][0]}
            for measure in data:
                row[measure] = _money(m[measure][1]) if shown[amount_key[measure]] else None
            row["sales_change_pct"] = (_change(m["sales"][1], m["sales_last"][1])
                                       if shown["order.total_amount"] else None)
            out.append(row)
        return sorted(out, key=lambda r: (-Decimal(r["sales"] or 0), -r["orders"], r["name"]))

    cols = [("orders", "签约订单数"), ("sales", "销售额(元)"), ("orders_last", "上期订单数"), ("sales_last", "上期销售额(元)"),
            ("sales_change_pct", "销售额环比(%)"), ("planned", "计划回款(元)"), ("received", "实际回款(元)"),
            ("overdue_orders", "逾期订单数"), ("overdue", "逾期应收(元)")]
    tables = [_table("owners", "按负责人", [("name", "负责人"), *cols], rows_by(1, lambda u: users.get(u, NO_OWNER) if u else NO_OWNER)),
              _table("departments", "按部门", [("name", "部门"), *cols],
                     rows_by(0, lambda d: departments.get(d, NO_DEPARTMENT) if d else NO_DEPARTMENT))]
    used = fields + sorted({k for k, v in shown.items() if v}) + (
        ["payment_plan.due_on", "payment.paid_on"] if shown["payment_plan.amount"] else [])
    return _result(ctx, session, "sales", period, tables, used, sorted(k for k, v in shown.items() if not v),
                   as_of=as_of.isoformat())


def index(ctx: Ctx) -> list[dict[str, str]]:
    """The reports this viewer may open (all of them, given any view grant; 403 otherwise)."""
    _require(ctx, [])
    return [{"name": k, "title": v} for k, v in REPORTS.items()]


def run(session: Session, ctx: Ctx, *, name: str, period: str | None, as_of: str | None, today: date) -> dict:
    """One report by name with validated parameters (422 for a bad period/day, 404 for an unknown report)."""
    if name not in REPORTS:
        raise NotFound()
    p, day = params(period=period, as_of=as_of, today=today)
    if name == "sales":
        return sales(session, ctx, period=p, as_of=day)
    return {"growth": growth, "region": region, "complaints": complaints}[name](session, ctx, period=p)


def export(session: Session, ctx: Ctx, *, name: str, period: str | None, as_of: str | None,
           today: date) -> tuple[str, bytes]:
    """(file name, .xlsx bytes) of one report; needs `export` at the level of every field it draws on."""
    from kehu.reports.excel import workbook

    ctx.extra["report_export"] = True
    result = run(session, ctx, name=name, period=period, as_of=as_of, today=today)
    specs = [ctx.catalog.fields[k] for k in result["fields"] if k in ctx.catalog.fields]
    policy.require_fields(ctx.principal, "export", specs)
    ctx.audit(session, action="report.export", target_type="report", target_id=name, fields=result["fields"],
              detail={"period": result["period"]["label"], "format": "xlsx",
                      **({"as_of": result["as_of"]} if "as_of" in result else {})})
    return f"{name}-{result['period']['label']}.xlsx", workbook(result, viewer=ctx.principal.display_name)
