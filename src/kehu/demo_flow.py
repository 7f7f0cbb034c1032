"""Relationship demo data on top of the demo customers: what a few months of sales and service work leave behind.

`load_relationships(kehu, …)` adds, with one seeded `random.Random` (same seed, same data): a product
catalogue with product lines; follow-ups and communication minutes; orders/contracts with items, payment
plans and payments (some overdue); complaints in every workflow state (open ones past their promised date
among them) with their change history; satisfaction surveys (after complaints and on schedule, answered or
waiting); leads across the stages with their stage history; customers recycled to the public pool; and for
every demo sales user something in 今日待办 today (follow-ups due and overdue, a return visit, pool warnings).

Rows are written with the bulk path's executemany inserts (`kehu.customers.bulk`), the only level-1 value
(a payment's account) sealed with its customer's data key; the whole load is one audit entry.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import bindparam, select, update

DAY = timedelta(days=1)
CENT = Decimal("0.01")
LINES = (("SW", "软件产品"), ("HW", "硬件设备"), ("SVC", "技术服务"))
PRODUCTS = (  # code, name, line, unit, list price
    ("CRM-STD", "客户管理系统 标准版", "SW", "套", 12000), ("CRM-ENT", "客户管理系统 企业版", "SW", "套", 48000),
    ("ERP-FIN", "财务管理模块", "SW", "套", 26000), ("SRV-R740", "机架式服务器", "HW", "台", 35800),
    ("NET-SW24", "24口千兆交换机", "HW", "台", 3200), ("PAD-T10", "移动盘点终端", "HW", "台", 2600),
    ("SVC-IMPL", "实施服务", "SVC", "人天", 1800), ("SVC-YEAR", "年度运维服务", "SVC", "年", 9800),
    ("SVC-TRAIN", "操作培训", "SVC", "场", 3000),
)
RESULTS = ("客户对方案整体满意，要求补充报价明细", "已演示系统功能，客户关注数据安全", "客户预算待批，下月再联系",
           "确认了交付时间，客户要求提前一周", "客户反馈上次服务响应及时", "决策人出差，改约下周拜访",
           "已发送合同草稿，等待法务审核", "客户提出价格异议，需申请折扣", "介绍了新产品线，客户有兴趣试用",
           "回访使用情况，运行稳定")
NOTES = ("注意对方偏好上午沟通", "需同步技术负责人", "竞争对手也在接触", "客户希望分期付款", None, None)
POINTS = ("讨论年度框架协议条款", "确认二期项目范围与预算", "沟通验收标准和付款节点", "了解客户明年扩产计划",
          "就售后响应时间达成一致", "客户提出定制报表需求")
TERMS = ("验收合格后30日内付清尾款", "预付30%，到货付60%，验收后付10%", "按季度结算，质保一年",
         "分三期付款，逾期按日万分之五计违约金")
SIGNERS = ("王建国", "李秀英", "张志强", "刘丽", "陈伟", "杨静", "赵磊", "黄敏")
COMPLAINTS = {
    "goods": ("设备到货时外包装破损，机箱有划痕", "交换机部分端口无法正常工作", "盘点终端电池续航明显不足"),
    "service": ("报修后超过48小时无人上门", "实施人员多次更换，交接不清", "客服电话长时间无人接听"),
    "other": ("发票信息开具错误，影响报销", "合同约定的培训未按期安排"),
}
CAUSES = ("物流运输过程中挤压", "供应商批次质量问题", "服务排班不足，响应超时", "交接流程缺失")
MEASURES = ("更换物流承运商并加固包装", "更换同批次设备并加强来料检验", "增加值班人员并设置超时提醒",
            "制定交接清单并指定专人负责")
SURVEY_COMMENTS = ("整体满意，希望响应再快一些", "服务人员专业耐心", "产品稳定，包装可以改进", None, None)
LEADS = ("年度框架采购", "二期系统扩容", "分支机构推广", "运维服务续约", "硬件更新换代", "新工厂信息化项目")
METHODS = ("phone", "visit", "email", "wechat", "meeting")
STEP_ORDER = ("registered", "investigated", "planned", "handled", "evaluated", "closed")
STEP_LABELS = {"investigated": "调查", "planned": "制定对策", "handled": "处理", "evaluated": "满意度评价",
               "closed": "结案"}
SATISFACTION_BY_SCORE = {5: "very_satisfied", 4: "satisfied", 3: "neutral", 2: "dissatisfied",
                         1: "very_dissatisfied"}


@dataclass
class FlowResult:
    """Rows written per table."""

    counts: Counter = field(default_factory=Counter)


CST = timezone(timedelta(hours=8))


def local_today() -> date:
    """Today in China Standard Time (the web UI's day)."""
    return datetime.now(CST).date()


def _at(day: date, rng: random.Random) -> datetime:
    """A UTC time during the working hours of a local day."""
    return datetime.combine(day, time(1 + rng.randrange(9), rng.randrange(60)), timezone.utc)  # 09–17 CST


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class _Gen:
    """Row builder over the demo customers (one seeded rng, rows per table)."""

    def __init__(self, rng: random.Random, today: date, products: list[tuple[str, Decimal]],
                 items: list[str], stages: list[str], service_dept: str | None, crypto: Any):
        self.r, self.today, self.products, self.items, self.crypto = rng, today, products, items, crypto
        self.stages, self.service_dept = stages, service_dept
        self.template_id: str | None = None
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, table: str, **values: Any) -> dict[str, Any]:
        from kehu.kit.ids import new_id

        values.setdefault("id", new_id())
        self.rows[table].append(values)
        return values

    def seal(self, c, table: str, name: str, row_id: str, value: str) -> bytes:
        """A level-1 value sealed with the customer's data key (as the vault stores it)."""
        from kehu.catalog.vault import Vault

        return Vault(self.crypto, customer_id=c.id, wrapped_dek=c.dek).seal(value, table=table, field=name,
                                                                              row_id=row_id)

    def ago(self, low: int, high: int) -> date:
        return self.today - DAY * self.r.randint(low, high)

    def followup(self, c, *, on: date, next_on: date | None, contact: str | None) -> None:
        r = self.r
        self.add("followup", customer_id=c.id, method=r.choice(METHODS), contact_id=contact,
                 followed_at=f"{on.isoformat()} {9 + r.randrange(9):02d}:{r.choice((0, 15, 30, 45)):02d}",
                 result=r.choice(RESULTS), notes=r.choice(NOTES), next_followup_on=next_on,
                 created_by=c.owner_id, created_at=_at(on, r))

    def communication(self, c, *, on: date) -> None:
        r = self.r
        self.add("communication", customer_id=c.id, communicated_on=on, channel=r.choice(("meeting", "phone", "email")),
                 key_points=r.choice(POINTS), intent=r.choice(("strong", "moderate", "weak", "none")),
                 created_by=c.owner_id, created_at=_at(on, r))

    def order(self, c, *, late: bool = False) -> None:
        r = self.r
        start = self.ago(60, 200) if late else self.ago(15, 420)
        status = "executing" if late else r.choices(
            ("draft", "signed", "executing", "completed", "terminated", "cancelled"), (8, 17, 40, 28, 4, 3))[0]
        delivery = {"draft": "pending", "signed": "pending", "cancelled": "pending",
                    "executing": r.choice(("partial", "delivered")), "completed": "accepted",
                    "terminated": "partial"}[status]
        order = self.add("order", customer_id=c.id, status=status, delivery_status=delivery,
                         terms=r.choice(TERMS), start_on=start, end_on=start + DAY * 365, signer=r.choice(SIGNERS),
                         created_by=c.owner_id, created_at=_at(start, r), updated_at=_at(min(start + DAY * 20,
                                                                                             self.today), r))
        total = Decimal("0.00")
        for n, (pid, unit_price) in enumerate(r.sample(self.products, r.randint(1, 3)), 1):
            qty = Decimal(r.choice((1, 1, 2, 3, 5, 10)))
            price = _money(float(unit_price) * r.choice((1, 1, 0.95, 0.9, 0.85)))
            amount = (qty * price).quantize(CENT)
            total += amount
            self.add("order_item", order_id=order["id"], customer_id=order["customer_id"], line_no=n, product_id=pid,
                     quantity=qty, unit_price=price, amount=amount)
        order["total_amount"] = total
        if status in ("draft", "cancelled"):
            return
        shares = r.choice(((1,), (3, 7), (3, 6, 1), (5, 5)))
        due, left = start + DAY * 30, total
        for k, share in enumerate(shares):
            amount = left if k == len(shares) - 1 else (total * share / 10).quantize(CENT)
            left -= amount
            plan = self.add("payment_plan", order_id=order["id"], due_on=due, amount=amount,
                            note=f"第{k + 1}期", created_by=c.owner_id, created_at=_at(start, r))
            paid = status == "completed" or (due <= self.today and r.random() < 0.7 and not (late and k == 0))
            if paid and due <= self.today:
                on = min(self.today, due + DAY * r.randint(-5, 12))
                pay = self.add("payment", order_id=order["id"], paid_on=on, amount=plan["amount"],
                               method=r.choice(("transfer", "transfer", "bill", "cheque", "online")),
                               handler_id=c.owner_id, note=None, created_by=c.owner_id, created_at=_at(on, r))
                account = f"6{r.randrange(10**9):09d}{r.randrange(10**9):09d}" if r.random() < 0.5 else None
                pay["account"] = self.seal(c, "payments", "account", pay["id"], account) if account else None
            due += DAY * r.choice((60, 90, 120))

    def complaint(self, c, *, state: str, history) -> None:
        r = self.r
        kind = r.choice(tuple(COMPLAINTS))
        urgency = r.choices(("critical", "urgent", "normal"), (1, 3, 6))[0]
        received = self.ago(0, 12) if state in ("registered", "investigated", "planned") else self.ago(10, 60)
        promised = received + DAY * {"critical": 1, "urgent": 3, "normal": 7}[urgency]
        row = self.add("complaint", customer_id=c.id, status=state, kind=kind, urgency=urgency,
                       channel=r.choice(("phone", "visit", "email", "online", "wechat")), received_on=received,
                       content=r.choice(COMPLAINTS[kind]), promised_on=promised, created_by=c.owner_id,
                       created_at=_at(received, r), updated_at=_at(received, r))
        reached = STEP_ORDER[: STEP_ORDER.index(state) + 1]
        on = received
        for old, new in zip(reached, reached[1:]):
            on = min(self.today, on + DAY * r.randint(0, 3))
            if new == "investigated":
                row["cause"] = r.choice(CAUSES)
            elif new == "planned":
                row["countermeasure"] = r.choice(MEASURES)
            elif new == "handled":
                row.update(handling=r.choice(("return", "exchange", "discount", "repair")), handled_on=on,
                           loss_amount=_money(r.choice((0, 200, 800, 1500, 3600))),
                           responsible_department_id=self.service_dept)
            elif new == "evaluated":
                row.update(satisfaction=r.choice(("very_satisfied", "satisfied", "satisfied", "neutral")))
            elif new == "closed":
                row["closed_on"] = on
            history(c, row["id"], "status", old, new, f"投诉{STEP_LABELS[new]}（{{no}}）", _at(on, r), row)
        row["updated_at"] = _at(on, r)
        if state == "handled":
            self.survey(c, trigger="complaint", on=row["handled_on"], answered=False, complaint=row)
        elif state in ("evaluated", "closed") and r.random() < 0.6:
            self.survey(c, trigger="complaint", on=row["handled_on"], answered=True, complaint=row)

    def survey(self, c, *, trigger: str, on: date, answered: bool, complaint: dict | None = None) -> None:
        r = self.r
        row = self.add("survey", customer_id=c.id, template_id=self.template_id, complaint_id=complaint["id"] if complaint else None,
                       trigger=trigger, status="answered" if answered else "sent", sent_on=on, answered_on=None,
                       overall_score=None, comment=None, created_by=c.owner_id, created_at=_at(on, r))
        if complaint is not None:
            complaint["survey_id"] = row["id"] if answered else None
        if not answered:
            return
        base = r.choice((5, 4, 4, 3))
        scores = [max(1, min(5, base + r.choice((0, 0, 0, 1, -1)))) for _ in self.items]
        for item_id, score in zip(self.items, scores):
            self.add("survey_answer", survey_id=row["id"], item_id=item_id, score=score)
        overall = (Decimal(sum(scores)) / len(scores)).quantize(CENT, rounding=ROUND_HALF_UP)
        row.update(answered_on=min(self.today, on + DAY * r.randint(1, 5)), overall_score=overall,
                   comment=r.choice(SURVEY_COMMENTS))
        if complaint is not None and complaint.get("satisfaction"):
            complaint["satisfaction"] = SATISFACTION_BY_SCORE[int(overall.quantize(Decimal("1"), ROUND_HALF_UP))]

    def lead(self, c) -> None:
        r = self.r
        reached = r.choices(range(len(self.stages)), (30, 25, 20, 15, 10)[: len(self.stages)])[0]
        on = self.ago(20, 150)
        lead = self.add("lead", customer_id=c.id, title=r.choice(LEADS), stage=self.stages[reached],
                        expected_amount=_money(r.choice((30000, 80000, 150000, 420000, 1200000))),
                        expected_sign_on=self.today + DAY * r.randint(10, 120), created_by=c.owner_id,
                        created_at=_at(on, r), updated_at=_at(on, r))
        previous = None
        for stage in self.stages[: reached + 1]:
            self.add("lead_change", lead_id=lead["id"], from_stage=previous, to_stage=stage,
                     reason="新建商机" if previous is None else r.choice(("需求已确认", "预算已批", "进入商务谈判", None)),
                     changed_by=c.owner_id, changed_at=_at(on, r))
            previous, on = stage, min(self.today, on + DAY * r.randint(5, 25))
        lead["updated_at"] = _at(on, r)


def _catalogue(kehu, ctx) -> None:
    """The product lines and products (through the catalogue service; skipped when present)."""
    from kehu.orders import products

    with kehu.db.transaction() as s:
        known = {ln["code"] for ln in products.list_lines(s, ctx)}
        for code, name in LINES:
            if code not in known:
                products.create_line(s, ctx, data={"code": code, "name": name})
        s.flush()
        have = {p["code"] for p in products.list_(s, ctx, active_only=False)}
        for code, name, line, unit, price in PRODUCTS:
            if code not in have:
                products.create(s, ctx, data={"code": code, "name": name, "line": line, "unit": unit,
                                              "list_price": str(price)})


def _plan(gen: _Gen, customers: list, contacts: dict[str, str], history) -> tuple[list[dict], list[dict]]:
    """Decide every customer's records; (customers to pool, customers whose creation is backdated)."""
    r, today = gen.r, gen.today
    by_owner: dict[str, list] = defaultdict(list)
    for c in customers:
        by_owner[c.owner_id].append(c)
    special: dict[str, str] = {}
    for owned in by_owner.values():  # something in every sales user's 今日待办, a few customers to the pool
        plain = [c for c in owned if c.importance == "normal"]
        for role, pick in (("due", plain[0:3]), ("overdue", plain[3:5]), ("warning", plain[5:7]),
                           ("pool", plain[7:9]),
                           ("visit", [c for c in owned if c.importance == "key"][:1])):
            special.update({c.id: role for c in pick})
        special.setdefault(owned[-1].id, "late")  # an executing contract with an unpaid instalment
    pooled, backdated = [], []
    complaint_states = iter(STEP_ORDER * (len(customers) // 60 + 2))
    for c in customers:
        role = special.get(c.id)
        contact = contacts.get(c.id) if r.random() < 0.7 else None
        if role == "due":
            gen.followup(c, on=gen.ago(7, 20), next_on=today, contact=contact)
        elif role == "overdue":  # an older customer: a planned follow-up has passed with nothing recorded
            backdated.append({"cid": c.id, "created": datetime.now(timezone.utc) - DAY * 28})
            gen.followup(c, on=gen.ago(15, 25), next_on=today - DAY * r.randint(2, 8), contact=contact)
        elif role in ("warning", "visit"):
            days = 25 if role == "warning" else 40  # 5 days before recycling; a key customer's visit is due
            backdated.append({"cid": c.id, "created": datetime.now(timezone.utc) - DAY * days})
            continue  # no contact since: the pool warning / return visit is due
        elif role == "pool":
            pooled.append({"cid": c.id, "owner": c.owner_id, "days": r.randint(1, 45)})
            continue  # recycled: nothing recorded in the last month
        elif r.random() < 0.7:
            days = sorted(r.sample(range(1, 150), r.randint(1, 3)), reverse=True)
            for n, ago in enumerate(days):
                last = n == len(days) - 1
                nxt = today + DAY * r.randint(3, 30) if last and r.random() < 0.5 else None
                gen.followup(c, on=today - DAY * ago, next_on=nxt, contact=contact)
        if role not in ("due", "overdue") and r.random() < 0.4:
            for ago in r.sample(range(1, 120), r.randint(1, 2)):
                gen.communication(c, on=today - DAY * ago)
        if role == "late":
            gen.order(c, late=True)
        elif r.random() < (0.55 if c.kind == "organisation" else 0.25):
            for _ in range(r.choice((1, 1, 2))):
                gen.order(c)
        if r.random() < 0.09:
            gen.complaint(c, state=next(complaint_states), history=history)
        if c.importance in ("key", "core") and r.random() < 0.4:
            gen.survey(c, trigger="schedule", on=gen.ago(5, 90), answered=r.random() < 0.7)
        if r.random() < 0.2:
            gen.lead(c)
    return pooled, backdated



def load_relationships(kehu, *, ctx, seed: int, departments: dict[str, str], today: date | None = None,
                       since: datetime | None = None) -> FlowResult:
    """Add the relationship demo data for the owned customers created `since` (all when None); one transaction."""
    from kehu.complaints.models import Complaint, ComplaintSequence
    from kehu.customers.bulk import _Insert
    from kehu.customers.changes import history_row
    from kehu.customers.models import Contact, Customer, History
    from kehu.db import allocate
    from kehu.interactions.models import Communication, FollowUp
    from kehu.leads.models import Lead, LeadChange, LeadStage
    from kehu.orders.models import Order, OrderItem, OrderSequence, Payment, PaymentPlan, Product
    from kehu.pools.models import PoolEntry
    from kehu.surveys.models import Survey, SurveyAnswer, SurveyItem, SurveyTemplate

    _catalogue(kehu, ctx)
    today = today or local_today()
    now = datetime.now(timezone.utc)
    result = FlowResult()
    with kehu.db.transaction() as s:
        customers = list(s.execute(select(Customer.id, Customer.archive_no, Customer.owner_id, Customer.kind,
                                          Customer.importance, Customer.dek, Customer.department_id)
                                   .where(Customer.owner_id.is_not(None),
                                          Customer.created_at >= since if since else Customer.id.is_not(None))
                                   .order_by(Customer.id)).all())
        contacts = dict(s.execute(select(Contact.customer_id, Contact.id).where(Contact.is_primary == "yes")).all())
        catalogue = [(p.id, p.list_price or Decimal("1000")) for p in
                     s.execute(select(Product).where(Product.active.is_(True)).order_by(Product.code)).scalars()]
        items = list(s.execute(select(SurveyItem.id).join(SurveyTemplate).where(SurveyTemplate.code == "default")
                               .order_by(SurveyItem.position)).scalars())
        stages = list(s.execute(select(LeadStage.code).where(LeadStage.active.is_(True))
                                .order_by(LeadStage.sort_order, LeadStage.code)).scalars())
        gen = _Gen(random.Random(seed * 7 + 5), today, catalogue, items, stages, departments.get("service"),
                   kehu.crypto)
        gen.template_id = s.execute(select(SurveyTemplate.id).where(SurveyTemplate.code == "default")).scalar()
        changes: list[tuple] = []
        pooled, backdated = _plan(gen, customers, contacts,
                                  lambda c, rid, name, old, new, why, at, row: changes.append(
                                      (c, rid, name, old, new, why, at, row)))
        rows = gen.rows
        first = allocate(s, OrderSequence, now.year, len(rows["order"])) if rows["order"] else 0
        for n, order in enumerate(rows["order"]):
            order["order_no"] = f"HT{now.year}{first + n:07d}"
        first = allocate(s, ComplaintSequence, now.year, len(rows["complaint"])) if rows["complaint"] else 0
        for n, complaint in enumerate(rows["complaint"]):
            complaint["complaint_no"] = f"TS{now.year}{first + n:06d}"
        specs = {"status": ctx.catalog.get("complaint", "status"), "owner_id": ctx.catalog.get("customer", "owner_id")}
        history = [history_row(None, spec=specs[name], customer_id=c.id, record_id=rid, op="update", old=old, new=new,
                               reason=why.format(no=row["complaint_no"]), changed_by=c.owner_id, changed_at=at)
                   for c, rid, name, old, new, why, at, row in changes]
        for p in pooled:
            at = now - DAY * p["days"]
            rows["pool_entry"].append({"customer_id": p["cid"], "previous_owner_id": p["owner"], "pooled_at": at,
                                       "last_contact_on": (at - DAY * 31).date().isoformat(), "rule_days": 30,
                                       "claimed_by": None, "claimed_at": None})
            history.append(history_row(None, spec=specs["owner_id"], customer_id=p["cid"], record_id=p["cid"],
                                       op="update", old=p["owner"], new=None, reason="超过30天未跟进，自动回收至公海",
                                       changed_by=None, changed_at=at))
        models = {"followup": FollowUp, "communication": Communication, "order": Order, "order_item": OrderItem,
                  "payment_plan": PaymentPlan, "payment": Payment, "complaint": Complaint, "survey": Survey,
                  "survey_answer": SurveyAnswer, "lead": Lead, "lead_change": LeadChange, "pool_entry": PoolEntry}
        from kehu.customers.bulk import _template
        from kehu.kit.ids import new_id

        for table in ("followup", "communication", "order", "order_item", "payment_plan", "payment", "complaint",
                      "survey", "survey_answer", "lead", "lead_change", "pool_entry"):
            template = _template(models[table])
            full = [{**template, **row} if "id" in row else {**template, "id": new_id(), **row} for row in rows[table]]
            _Insert(s, models[table])(s, full)
            result.counts[table] = len(full)
        template = _template(History)
        _Insert(s, History)(s, [{**template, **h} for h in history])
        result.counts["history"] = len(history)
        table = Customer.__table__  # Core executemany (the ORM would want one statement per primary key)
        if pooled:
            s.connection().execute(update(table).where(table.c.id == bindparam("cid")).values(owner_id=None),
                                   [{"cid": p["cid"]} for p in pooled])
        if backdated:
            s.connection().execute(update(table).where(table.c.id == bindparam("cid"))
                                   .values(created_at=bindparam("created")), backdated)
        ctx.audit(s, action="demo.relationships", target_type="customer",
                  detail={k: v for k, v in sorted(result.counts.items())})
    return result
