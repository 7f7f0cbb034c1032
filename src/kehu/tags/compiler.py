"""Checks a rule tree against the catalogue and compiles it to SQLAlchemy Core over a per-customer frame.

The frame is one row per customer: the customer fields a rule reads (`f_<name>`), the aggregates of
orders, items, payments, follow-ups, communications, complaints, surveys and leads it uses (`a_<hash>`,
one grouped subquery per source, windows as CASE filters), and the stored grade (`g_<name>`). The same
compiled condition runs over a subquery (one customer, dry runs, segments) or over a materialised
temporary table (full evaluation), so real-time and batch answers are the same SQL.
"""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import (Date, Numeric, and_, case, exists, false, func, literal, not_, null, or_, select,
                        true)
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import BindParameter

from kehu.catalog.registry import Catalog
from kehu.db import UTCDateTime, unindexed
from kehu.tags.language import Node, RuleError, parse

PURCHASE_STATUSES = ("signed", "executing", "completed", "terminated")
TIERS = ("一线", "新一线", "二线", "三线及以下", "农村")
#: parameters a rule may use as @name, with their defaults (overridden in tag_settings as `param.<name>`)
PARAMS: dict[str, int] = {"active_days": 90, "churn_days": 180, "grade_period_days": 90}
MAX_DAYS = 36500
MAX_NUMBER = Decimal(10) ** 12
AGG_FUNCS = ("count", "sum", "avg", "min", "max", "days_since")


@lru_cache
def city_tiers() -> dict[str, str]:
    """City name (with and without 市) → tier, from the shipped table src/kehu/data/city_tiers.csv."""
    text = resources.files("kehu").joinpath("data/city_tiers.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    out: dict[str, str] = {}
    for row in rows:
        out[row["city"]] = row["tier"]
        out[row["city"] + "市"] = row["tier"]
    return out


def tier_of(city: str | None, district: str | None) -> str | None:
    """The region tier of an address (the Python twin of the SQL expression, for explanations and tests)."""
    if district and district.endswith(("县", "旗")):
        return "农村"
    if not city:
        return None
    return city_tiers().get(city, "三线及以下")


def one_of(col, values) -> ColumnElement[bool]:
    """`col = v1 OR col = v2 …`: plain bound values, so a cached statement is not re-rendered per run
    (SQLAlchemy renders `IN (list)` at execution time)."""
    return or_(*(col == v for v in values)) if values else false()


# --- sources of aggregates ---------------------------------------------------------------------------

@dataclass
class Source:
    """A kind of record aggregated per customer."""

    name: str
    label: str
    build: Callable[[], dict]  # lazily: from_, customer, time, time_kind, columns, filters, where, hints



# SQLite's planner, without statistics, walks orders by their status index and looks every row up; the
# covering index read per customer is 2.5× faster (10M orders: 30 s → 12 s), so the frame names it
def _orders():
    from kehu.orders.models import Order
    o = Order.__table__
    return dict(from_=o, customer=o.c.customer_id, time=o.c.created_at, kind="datetime",
                columns={"total_amount": (o.c.total_amount, "合同金额")}, filters={"status": o.c.status},
                where=one_of(o.c.status, PURCHASE_STATUSES), hints={o: "ix_orders_customer_activity"})


def _items():
    from kehu.customers.models import Customer
    from kehu.orders.models import Order, OrderItem, Product, ProductLine
    c, o, i = Customer.__table__, Order.__table__, OrderItem.__table__
    p, pl = Product.__table__, ProductLine.__table__
    amount = func.coalesce(i.c.amount, i.c.quantity * i.c.unit_price)
    # customer by customer: the customer's orders of the window (a range of the covering index), each order's
    # lines found by (customer, order) next to the previous order's — not anywhere in the index as by order id
    # alone (16M lines: 16 s → 8 s). The planner must take this path, never read every line and look its order
    # up (`unindexed`: that side of each join condition cannot be used to find rows). Line and product filters
    # test the item's product against the (small) catalogue once per statement (an IN subquery)
    return dict(from_=c.join(o, o.c.customer_id == unindexed(c.c.id))
                .join(i, and_(i.c.customer_id == unindexed(o.c.customer_id), i.c.order_id == o.c.id)),
                customer=c.c.id, time=o.c.created_at, kind="datetime",
                columns={"amount": (amount, "金额"), "quantity": (i.c.quantity, "数量")},
                filters={"line": lambda code: i.c.product_id.in_(
                             select(p.c.id).join(pl, pl.c.id == p.c.line_id).where(pl.c.code == code)),
                         "product": lambda code: i.c.product_id.in_(select(p.c.id).where(p.c.code == code))},
                where=one_of(o.c.status, PURCHASE_STATUSES),
                hints={o: "ix_orders_customer_activity", i: "ix_order_items_customer"})


def _payments():
    from kehu.orders.models import Order, Payment
    o, pay = Order.__table__, Payment.__table__
    return dict(from_=pay.join(o, pay.c.order_id == o.c.id), customer=o.c.customer_id, time=pay.c.paid_on,
                kind="date", columns={"amount": (pay.c.amount, "回款金额")}, filters={"method": pay.c.method},
                where=true())


def _followups():
    from kehu.interactions.models import FollowUp
    f = FollowUp.__table__
    return dict(from_=f, customer=f.c.customer_id, time=f.c.followed_at, kind="text", columns={},
                filters={"method": f.c.method}, where=true())


def _communications():
    from kehu.interactions.models import Communication
    c = Communication.__table__
    return dict(from_=c, customer=c.c.customer_id, time=c.c.communicated_on, kind="date", columns={},
                filters={"channel": c.c.channel, "intent": c.c.intent}, where=true())


def _complaints():
    from kehu.complaints.models import Complaint
    c = Complaint.__table__
    return dict(from_=c, customer=c.c.customer_id, time=c.c.received_on, kind="date",
                columns={"loss_amount": (c.c.loss_amount, "损失金额")},
                filters={"kind": c.c.kind, "status": c.c.status, "urgency": c.c.urgency}, where=true())


def _surveys():
    from kehu.surveys.models import Survey
    s = Survey.__table__
    return dict(from_=s, customer=s.c.customer_id, time=s.c.answered_on, kind="date",
                columns={"overall_score": (s.c.overall_score, "总体评分")}, filters={"trigger": s.c.trigger},
                where=s.c.answered_on.is_not(None))


def _leads():
    from kehu.leads.models import Lead
    ld = Lead.__table__
    return dict(from_=ld, customer=ld.c.customer_id, time=ld.c.created_at, kind="datetime",
                columns={"expected_amount": (ld.c.expected_amount, "预计金额")}, filters={"stage": ld.c.stage},
                where=true())


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("orders", "订单（已签订及以后）", _orders), Source("items", "订单明细", _items),
    Source("payments", "回款", _payments), Source("followups", "跟进记录", _followups),
    Source("communications", "沟通纪要", _communications), Source("complaints", "投诉", _complaints),
    Source("surveys", "满意度调查（已答复）", _surveys), Source("leads", "商机", _leads))}


@lru_cache
def _source(name: str) -> dict:
    return SOURCES[name].build()


# --- needs, compiled rules ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Agg:
    """One aggregate a rule needs: function, source, column, window in days (None = all time), filters."""

    func: str
    source: str
    column: str | None
    window: int | None
    filters: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """Frame column name of this aggregate."""
        raw = repr((self.func, self.source, self.column, self.window, self.filters))
        return "a_" + hashlib.sha1(raw.encode()).hexdigest()[:12]


GRADE_FIELDS = {"grade": "价值等级", "stars": "星级", "rfm_r": "RFM-R", "rfm_f": "RFM-F", "rfm_m": "RFM-M"}
DERIVED = {"age": "年龄", "city_tier": "城市等级"}


@dataclass
class Compiled:
    """A checked rule: its tree, what the frame must hold, and `condition(frame)`."""

    text: str
    tree: Node
    fields: set[str] = field(default_factory=set)
    aggs: set[Agg] = field(default_factory=set)
    grades: set[str] = field(default_factory=set)
    tag_codes: set[str] = field(default_factory=set)
    levels: dict[str, int] = field(default_factory=dict)  # field → effective level used
    derived: set[str] = field(default_factory=set)  # values computed once per customer in the frame (city_tier)


@dataclass
class Env:
    """What a rule is checked and compiled against."""

    catalog: Catalog
    as_of: date
    params: dict[str, int] = field(default_factory=lambda: dict(PARAMS))
    tag_ids: dict[str, str] = field(default_factory=dict)  # code → id
    may_use_level1: bool = False


def check(text: str, env: Env) -> Compiled:
    """Parse and check a rule; RuleError listing every problem with its line, column and a Chinese message."""
    tree = parse(text)
    out = Compiled(text=text, tree=tree)
    problems: list[tuple[int, int, str]] = []
    _check_bool(tree, env, out, problems)
    if problems:
        raise RuleError(problems)
    return out


def _err(problems: list, node: Node, msg: str) -> None:
    problems.append((node.line, node.column, msg))


def _check_bool(node: Node, env: Env, out: Compiled, problems: list) -> None:
    k = node.kind
    if k in ("and", "or"):
        for a in node.args:
            _check_bool(a, env, out, problems)
    elif k == "not":
        _check_bool(node.args[0], env, out, problems)
    elif k == "truthy":
        inner = node.args[0]
        if inner.kind == "call" and inner.args[0] == "has_tag":
            _check_has_tag(inner, env, out, problems)
        else:
            _err(problems, inner, "这里需要一个条件（例如 比较、in、is empty 或 has_tag(\"…\")）")
    elif k == "compare":
        op, left, right = node.args
        lt, rt = _type(left, env, out, problems), _type(right, env, out, problems)
        special = {"age", "days"}
        if lt in special or rt in special:
            other = right if lt in special else left
            if other.kind not in ("num", "param") or (lt in special and rt in special):
                _err(problems, other, "年龄和 days_since(…) 只能与数字或参数比较")
            elif other.kind == "num" and not 0 <= other.args[0] <= (150 if "age" in (lt, rt) else MAX_DAYS):
                _err(problems, other, "年龄须在0–150之间，天数须在0–36500之间")
        elif {lt, rt} == {"date", "str"}:
            pass
        elif lt and rt and lt != rt and "any" not in (lt, rt):
            _err(problems, right, f"类型不一致：不能比较{_TYPE_ZH.get(lt, lt)}和{_TYPE_ZH.get(rt, rt)}")
        elif op not in ("=", "!=") and "str" in (lt, rt):
            _err(problems, node, "文字只能用 = 或 != 比较")
        _check_choice(left, right, env, problems)
        _check_choice(right, left, env, problems)
    elif k == "in":
        left, values = node.args
        lt = _type(left, env, out, problems)
        if lt in ("age", "days"):
            _err(problems, left, "年龄和 days_since(…) 只能与数字比较")
        for v in values.args:
            vt = "num" if v.kind == "num" else "str"
            if lt and lt not in (vt, "any"):
                _err(problems, v, f"类型不一致：列表中的{_TYPE_ZH[vt]}与{_TYPE_ZH.get(lt, lt)}不符")
            _check_choice(left, v, env, problems)
        if not values.args:
            _err(problems, node, "列表不能为空")
    elif k == "empty":
        _type(node.args[0], env, out, problems, presence=True)
    elif k == "contains":
        lt = _type(node.args[0], env, out, problems)
        if lt and lt != "str":
            _err(problems, node, "contains 只能用于文字字段")
    else:
        _err(problems, node, "这里需要一个条件")


_TYPE_ZH = {"num": "数字", "str": "文字", "date": "日期", "bool": "条件", "age": "年龄", "days": "天数"}


def _check_choice(field_node: Node, value: Node, env: Env, problems: list) -> None:
    if field_node.kind != "name" or value.kind != "str":
        return
    name = field_node.args[0]
    if name == "city_tier" and value.args[0] not in TIERS:
        _err(problems, value, f"城市等级只能是：{'、'.join(TIERS)}")
        return
    spec = env.catalog.fields.get(f"customer.{name}")
    if spec and spec.kind == "date":
        try:
            date.fromisoformat(value.args[0])
        except ValueError:
            _err(problems, value, f"「{value.args[0]}」不是日期（应为 YYYY-MM-DD）")
    if spec and spec.choices and _choice_key(spec, value.args[0]) is None:
        _err(problems, value, f"「{value.args[0]}」不是字段「{spec.label}」的可选值（{'、'.join(f'{k}={v}' for k, v in spec.choices)}）")
    if name == "grade" and value.args[0] not in ("A", "B", "C", "D"):
        _err(problems, value, "等级只能是 A、B、C、D")


def _choice_key(spec, value: str) -> str | None:
    for key, label in spec.choices:
        if value in (key, label):
            return key
    return None


def _check_has_tag(node: Node, env: Env, out: Compiled, problems: list) -> None:
    args = node.args[1:]
    if len(args) != 1 or args[0].kind != "str":
        _err(problems, node, "has_tag 需要一个标签编码，例如 has_tag(\"vip\")")
        return
    code = args[0].args[0]
    if code not in env.tag_ids:
        _err(problems, args[0], f"标签「{code}」不存在")
    out.tag_codes.add(code)


def _type(node: Node, env: Env, out: Compiled, problems: list, *, presence: bool = False) -> str | None:
    k = node.kind
    if k == "num":
        if abs(node.args[0]) > MAX_NUMBER:
            _err(problems, node, "数字过大")
        return "num"
    if k == "str":
        return "str"
    if k == "param":
        if node.args[0] not in env.params:
            _err(problems, node, f"参数「@{node.args[0]}」不存在（可用：{'、'.join('@' + p for p in sorted(env.params))}）")
        return "num"
    if k == "arith":
        _op, left, right = node.args
        for side in (left, right):
            if _type(side, env, out, problems) != "num":
                _err(problems, side, "算术运算只能用于数字")
        return "num"
    if k == "name":
        return _field_type(node, env, out, problems, presence=presence)
    if k == "call":
        return _call_type(node, env, out, problems)
    _err(problems, node, "这里需要一个字段、数字、文字或函数")
    return None


def _field_type(node: Node, env: Env, out: Compiled, problems: list, *, presence: bool) -> str | None:
    name = node.args[0]
    if name == "age":
        out.fields.add("birth_date")
        return "age"
    if name == "city_tier":
        out.fields.update({"city", "district"})
        out.derived.add("city_tier")
        return "str"
    if name in GRADE_FIELDS:
        out.grades.add(name)
        return "str" if name == "grade" else "num"
    spec = env.catalog.fields.get(f"customer.{name}")
    if spec is None:
        _err(problems, node, f"客户字段「{name}」不存在")
        return None
    out.levels[name] = spec.level
    if spec.level == 1 and not env.may_use_level1:
        _err(problems, node, f"字段「{spec.label}」为一级敏感信息，您没有查看其明文的权限，不能在规则中使用")
        return None
    if spec.encrypted and not presence:
        _err(problems, node, f"字段「{spec.label}」加密存储，规则中只能判断是否填写（is empty / is not empty）")
        return None
    out.fields.add(name)
    return {"int": "num", "decimal": "num", "date": "date"}.get(spec.kind, "str")


def _call_type(node: Node, env: Env, out: Compiled, problems: list) -> str | None:
    fname = node.args[0]
    if fname == "has_tag":
        _err(problems, node, "has_tag(…) 本身就是条件，不能再比较")
        return None
    if fname not in AGG_FUNCS:
        _err(problems, node, f"函数「{fname}」不存在（可用：{'、'.join(AGG_FUNCS + ('has_tag',))}）")
        return None
    agg = _agg_of(node, env, problems)
    if agg is None:
        return None
    out.aggs.add(agg)
    node.meta["agg"] = agg
    return "days" if fname == "days_since" else "num"


def _agg_of(node: Node, env: Env, problems: list) -> Agg | None:
    fname, args = node.args[0], list(node.args[1:])
    refs = [a for a in args if a.kind in ("ref", "name")]
    if not refs:
        _err(problems, node, f"{fname}(…) 需要数据来源，例如 {fname}(orders" + (".total_amount" if fname in ("sum", "avg", "min", "max") else "") + ", 90d)")
        return None
    ref = refs[0]
    parts = ref.args
    src_name, column = parts[0], (parts[1] if len(parts) > 1 else None)
    if src_name not in SOURCES:
        _err(problems, ref, f"数据来源「{src_name}」不存在（可用：{'、'.join(SOURCES)}）")
        return None
    src = _source(src_name)
    if fname in ("sum", "avg", "min", "max"):
        if column is None:
            _err(problems, ref, f"{fname} 需要指定金额或数量列，例如 {src_name}.{next(iter(src['columns']), '?')}")
            return None
        if column not in src["columns"]:
            cols = "、".join(src["columns"]) or "无"
            _err(problems, ref, f"「{src_name}」没有列「{column}」（可用：{cols}）")
            return None
    elif column is not None:
        _err(problems, ref, f"{fname} 只需要数据来源，不需要列")
        return None
    window = None
    filters = []
    for a in args:
        if a is ref:
            continue
        if a.kind == "window":
            window = a.args[0]
        elif a.kind == "param" and a.args[0] in env.params:
            window = int(env.params[a.args[0]])
        elif a.kind == "kwarg":
            key, value = a.args
            if key not in src["filters"]:
                _err(problems, a, f"「{src_name}」不能按「{key}」筛选（可用：{'、'.join(src['filters']) or '无'}）")
                return None
            filters.append((key, value.args[0] if isinstance(value.args[0], str) else str(value.args[0])))
        else:
            _err(problems, a, "参数应为时间窗口（如 90d）或筛选条件（如 status=\"completed\"）")
            return None
    if fname == "days_since" and window is not None:
        _err(problems, node, "days_since 不使用时间窗口")
        return None
    if window is not None and not 0 < window <= MAX_DAYS:
        _err(problems, node, "时间窗口须在1–36500天之间")
        return None
    return Agg(fname, src_name, column, window, tuple(sorted(filters)))


# --- SQL ---------------------------------------------------------------------------------------------

def _utc(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=timezone.utc)


def day_bound(kind: str, d: date):
    """A typed bound 'start of day d' for a time column of this kind."""
    if kind == "datetime":
        return literal(_utc(d), UTCDateTime())
    if kind == "date":
        return literal(d, Date())
    return literal(d.isoformat())  # follow-up times are 'YYYY-MM-DD HH:MM' text: prefix order is time order


def agg_expr(agg: Agg, as_of: date) -> tuple[ColumnElement, ColumnElement]:
    """(aggregate expression, time column) of one aggregate within its source's grouped query."""
    src = _source(agg.source)
    t = src["time"]
    conds = []
    if agg.window is not None:
        conds.append(t >= day_bound(src["kind"], as_of - timedelta(days=agg.window - 1)))
    for key, value in agg.filters:
        test = src["filters"][key]  # a column compared with the value, or a function of the value
        conds.append(test == value if isinstance(test, ColumnElement) else test(value))
    if agg.func == "count":
        return func.count(case((and_(*conds), 1)) if conds else literal(1)), t
    if agg.func == "days_since":
        return func.max(case((and_(*conds), t)) if conds else t), t
    col = src["columns"][agg.column][0]
    value = case((and_(*conds), col)) if conds else col
    return getattr(func, agg.func)(value), t


def _needs(rules: list[Compiled], extra_aggs: set[Agg]) -> tuple[set[str], dict[str, list[Agg]], set[str]]:
    """(customer fields, aggregates by source, grade fields) the rules read."""
    fields = {"status"} | set().union(*(r.fields for r in rules))
    by_source: dict[str, list[Agg]] = {}
    for a in sorted(set(extra_aggs).union(*(r.aggs for r in rules)), key=lambda a: a.key):
        by_source.setdefault(a.source, []).append(a)
    return fields, by_source, set().union(*(r.grades for r in rules))


def source_selects(needs: Compiled | list[Compiled], as_of: date, *, customer_ids=None, id_range=None,
                   extra_aggs: set[Agg] = frozenset()) -> dict[str, Any]:
    """Per source, the grouped query of its aggregates: `cid` and one column per aggregate (`Agg.key`).

    `customer_ids`: only these customers; `id_range`: only customer ids `lo <= id < hi` (`(lo, hi)`, either
    None for an open end), the part of the customers one thread computes (`engine.fill_frame`)."""
    rules = needs if isinstance(needs, list) else [needs]
    upper = as_of + timedelta(days=1)
    out = {}
    for name, group in sorted(_needs(rules, set(extra_aggs))[1].items()):
        src = _source(name)
        exprs = [agg_expr(a, as_of)[0].label(a.key) for a in group]
        q = (select(src["customer"].label("cid"), *exprs).select_from(src["from_"])
             .where(src["where"], src["time"] < day_bound(src["kind"], upper)).group_by(src["customer"]))
        if all(a.window is not None for a in group):  # only the widest window is read: older rows never count
            widest = max(a.window for a in group)
            q = q.where(src["time"] >= day_bound(src["kind"], as_of - timedelta(days=widest - 1)))
        if customer_ids is not None:
            q = q.where(_among(src["customer"], customer_ids))
        q = q.where(*_within_range(src["customer"], id_range))
        for table, index in src.get("hints", {}).items():
            q = q.with_hint(table, f"INDEXED BY {index}", dialect_name="sqlite")
        out[name] = q
    return out


def frame_select(needs: Compiled | list[Compiled], as_of: date, *, customer_ids=None, id_range=None,
                 extra_aggs: set[Agg] = frozenset()):
    """One row per customer with every field, aggregate and grade the given rules read (`customer_ids`,
    `id_range`: only those customers, as in `source_selects`)."""
    from kehu.customers.models import Customer
    from kehu.tags.models import CustomerGrade

    rules = needs if isinstance(needs, list) else [needs]
    cust = Customer.__table__
    fields, by_source, grades = _needs(rules, set(extra_aggs))
    cols = [cust.c.id.label("customer_id")] + [cust.c[f].label(f"f_{f}") for f in sorted(fields)]
    if any("city_tier" in r.derived for r in rules):  # once per customer, however many rules read it
        cols.append(tier_expr(cust.c.city, cust.c.district).label("d_city_tier"))
    joined = cust
    queries = source_selects(rules, as_of, customer_ids=customer_ids, id_range=id_range, extra_aggs=extra_aggs)
    for name, group in sorted(by_source.items()):
        sub = queries[name].subquery(f"s_{name}")
        joined = joined.outerjoin(sub, sub.c.cid == cust.c.id)
        for a in group:
            c = sub.c[a.key]
            cols.append((func.coalesce(c, 0) if a.func in ("count", "sum") else c).label(a.key))
    if grades:
        g = CustomerGrade.__table__
        joined = joined.outerjoin(g, g.c.customer_id == cust.c.id)
        names = {"grade": g.c.grade, "stars": g.c.stars, "rfm_r": g.c.r, "rfm_f": g.c.f, "rfm_m": g.c.m}
        cols += [names[n].label(f"g_{n}") for n in sorted(grades)]
    stmt = select(*cols).select_from(joined)
    if customer_ids is not None:
        stmt = stmt.where(_among(cust.c.id, customer_ids))
    return stmt.where(*_within_range(cust.c.id, id_range))


def _within_range(col, id_range) -> list[ColumnElement[bool]]:
    """The conditions `lo <= col < hi` of an id range (none for an open end or no range)."""
    lo, hi = id_range or (None, None)
    return ([col >= lo] if lo is not None else []) + ([col < hi] if hi is not None else [])


def _among(col, ids):
    """`col IN ids`, or `col = :cid` for a single bound id (a cached statement renders no IN list)."""
    if isinstance(ids, BindParameter) and not ids.expanding:
        return col == ids
    return col.in_(ids)


def condition(rule: Compiled, frame, env: Env) -> ColumnElement[bool]:
    """The rule as a WHERE clause over a frame (subquery or temporary table); archived customers never match."""
    return and_(frame.c.f_status != "archived", matches(rule, frame, env))


def matches(rule: Compiled, frame, env: Env) -> ColumnElement[bool]:
    """The rule's own condition, without the exclusion of archived customers (callers must add it)."""
    return _bool(rule.tree, frame, env)


def _bool(node: Node, fr, env: Env) -> ColumnElement[bool]:
    k = node.kind
    if k == "and":
        return and_(*(_bool(a, fr, env) for a in node.args))
    if k == "or":
        return or_(*(_bool(a, fr, env) for a in node.args))
    if k == "not":
        inner = _bool(node.args[0], fr, env)
        return not_(func.coalesce(inner, false()))  # unknown (NULL) counts as false before negation
    if k == "truthy":
        return _has_tag(node.args[0], fr, env)
    if k == "empty":
        target = node.args[0]
        if target.kind == "call":
            agg = target.meta["agg"]
            return fr.c[agg.key].is_(None) if agg.func not in ("count", "sum") else fr.c[agg.key] == 0
        return _value(target, fr, env).is_(None)
    if k == "contains":
        return _value(node.args[0], fr, env).contains(node.args[1], autoescape=True)
    if k == "in":
        left, values = node.args
        return one_of(_value(left, fr, env), [_literal_for(left, v, env) for v in values.args])
    if k == "compare":
        op, left, right = node.args
        if _is_special(left) or _is_special(right):
            return _special_compare(op, left, right, fr, env)
        lv, rv = _side(left, right, fr, env), _side(right, left, fr, env)
        if not isinstance(lv, ColumnElement):
            lv = literal(lv)
        return _OPS[op](lv, rv)
    raise AssertionError(k)


_OPS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
_FLIP = {"=": "=", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}


def _is_special(node: Node) -> bool:
    return (node.kind == "name" and node.args[0] == "age") or (node.kind == "call" and node.args[0] == "days_since")


def _number(node: Node, env: Env) -> Decimal:
    return Decimal(env.params[node.args[0]]) if node.kind == "param" else node.args[0]


def _sub_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February → 28 February
        return d.replace(year=d.year - years, day=28)


def _special_compare(op: str, left: Node, right: Node, fr, env: Env) -> ColumnElement[bool]:
    if not _is_special(left):
        left, right, op = right, left, _FLIP[op]
    n = _number(right, env)
    if left.kind == "name":  # age: whole years on as_of, compared through the birth date (index-friendly, both engines)
        b = fr.c.f_birth_date
        if n != int(n):
            n = Decimal(int(n) + (1 if op in (">", ">=") else 0)) if op in (">", ">=", "<", "<=") else n
        n = int(n)

        def at_least(k: int):  # age >= k  ⇔  birth_date <= as_of − k years
            return b <= literal(_sub_years(env.as_of, k), Date())
        table = {">=": lambda: at_least(n), ">": lambda: at_least(n + 1), "<": lambda: not_(at_least(n)),
                 "<=": lambda: not_(at_least(n + 1)), "=": lambda: and_(at_least(n), not_(at_least(n + 1))),
                 "!=": lambda: or_(not_(at_least(n)), at_least(n + 1))}
        return and_(b.is_not(None), table[op]())
    agg = left.meta["agg"]
    src = _source(agg.source)
    last = fr.c[agg.key]
    n = int(n)
    d = env.as_of - timedelta(days=n)  # days_since = as_of − date(last)

    def day(x: date):
        return day_bound(src["kind"], x)
    # date(last) <= d  ⇔ last < start(d+1); date(last) >= d ⇔ last >= start(d)
    table = {">=": lambda: last < day(d + timedelta(days=1)), ">": lambda: last < day(d),
             "<=": lambda: last >= day(d), "<": lambda: last >= day(d + timedelta(days=1)),
             "=": lambda: and_(last >= day(d), last < day(d + timedelta(days=1))),
             "!=": lambda: or_(last < day(d), last >= day(d + timedelta(days=1)))}
    return and_(last.is_not(None), table[op]())


def _has_tag(node: Node, fr, env: Env) -> ColumnElement[bool]:
    from kehu.tags.models import CustomerTag
    ct = CustomerTag.__table__
    tag_id = env.tag_ids.get(node.args[1].args[0])
    return exists().where(ct.c.customer_id == fr.c.customer_id, ct.c.tag_id == tag_id)


def tier_expr(city, district) -> ColumnElement:
    """The region tier of an address in SQL (twin of `tier_of`): each tier's cities as one IN list, which
    SQLite probes through a once-built index instead of comparing the city with every name in turn."""
    tiers = city_tiers()
    whens = [(or_(district.like("%县"), district.like("%旗")), "农村")]
    for tier in ("一线", "新一线", "二线"):
        whens.append((city.in_([literal(c) for c in sorted(c for c, t in tiers.items() if t == tier)]), tier))
    whens.append((city.is_not(None), "三线及以下"))
    return case(*whens, else_=null())


def _value(node: Node, fr, env: Env) -> ColumnElement:
    k = node.kind
    if k == "name":
        name = node.args[0]
        if name == "city_tier":
            return fr.c.d_city_tier
        if name in GRADE_FIELDS:
            return fr.c[f"g_{name}"]
        return fr.c[f"f_{name}"]
    if k == "call":
        return fr.c[node.meta["agg"].key]
    if k == "arith":
        op, left, right = node.args
        lv, rv = _value(left, fr, env), _value(right, fr, env)
        if op == "/":
            return lv / func.nullif(rv, 0)  # division by zero is unknown (false), not an error, on both engines
        return {"+": lv + rv, "-": lv - rv, "*": lv * rv}[op]
    if k == "num":
        return literal(node.args[0], Numeric(18, 4))
    if k == "param":
        return literal(Decimal(env.params[node.args[0]]), Numeric(18, 4))
    if k == "str":
        return literal(node.args[0])
    raise AssertionError(k)


def _literal_for(field_node: Node, value: Node, env: Env):
    """A literal compared with a field: choice labels become keys, dates become dates."""
    raw = value.args[0]
    if field_node.kind == "name":
        spec = env.catalog.fields.get(f"customer.{field_node.args[0]}")
        if spec is not None and spec.choices and isinstance(raw, str):
            return _choice_key(spec, raw) or raw
        if spec is not None and spec.kind == "date" and isinstance(raw, str):
            return literal(date.fromisoformat(raw), Date())
    if value.kind == "param":
        return Decimal(env.params[raw])
    return raw


def _side(node: Node, other: Node, fr, env: Env):
    if node.kind in ("str", "num", "param"):
        return _literal_for(other, node, env)
    return _value(node, fr, env)
