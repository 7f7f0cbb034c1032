"""The built-in tag catalogue (SPEC §6 thresholds, written in the rule language) and the settings defaults."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.kit.ids import new_id
from kehu.tags.compiler import PARAMS
from kehu.tags.models import Tag, TagRule, TagSetting

AMOUNT_365 = "sum(orders.total_amount, 365d)"
#: (code, name, family, exclusive group, rule or None for manual, description, contradiction)
BUILTIN: list[tuple[str, str, str, str | None, str | None, str, str | None]] = [
    ("age_18_25", "18–25岁", "basic", "age", "age >= 18 and age <= 25", "按出生日期计算的周岁", None),
    ("age_26_35", "26–35岁", "basic", "age", "age >= 26 and age <= 35", "按出生日期计算的周岁", None),
    ("age_36_45", "36–45岁", "basic", "age", "age >= 36 and age <= 45", "按出生日期计算的周岁", None),
    ("age_over_45", "45岁以上", "basic", "age", "age > 45", "按出生日期计算的周岁（46岁及以上）", None),
    ("gender_male", "男性", "basic", "gender", 'gender = "男"', "性别为男", None),
    ("gender_female", "女性", "basic", "gender", 'gender = "女"', "性别为女", None),
    ("tier_1", "一线城市", "basic", "region", 'city_tier = "一线"', "地址城市属一线城市（城市等级表）", None),
    ("tier_new1", "新一线城市", "basic", "region", 'city_tier = "新一线"', "地址城市属新一线城市", None),
    ("tier_2", "二线城市", "basic", "region", 'city_tier = "二线"', "地址城市属二线城市", None),
    ("tier_3", "三线及以下城市", "basic", "region", 'city_tier = "三线及以下"', "地址城市未列入一线/新一线/二线", None),
    ("rural", "农村（县域）", "basic", "region", 'city_tier = "农村"', "地址区县为县或旗", None),
    ("occ_manager", "企业管理者", "basic", None,
     'occupation contains "经理" or occupation contains "总监" or occupation contains "总裁" or occupation contains "董事"'
     ' or occupation contains "主管"', "职业/职务含经理、总监、总裁、董事、主管", None),
    ("occ_education", "教育工作者", "basic", None,
     'occupation contains "教师" or occupation contains "老师" or occupation contains "教授"', "职业含教师、老师、教授", None),
    ("occ_medical", "医务人员", "basic", None,
     'occupation contains "医生" or occupation contains "护士" or occupation contains "医师"', "职业含医生、护士、医师", None),
    ("occ_engineer", "技术人员", "basic", None,
     'occupation contains "工程师" or occupation contains "程序员" or occupation contains "技术员"', "职业含工程师、程序员、技术员", None),
    ("occ_civil", "公务员", "basic", None, 'occupation contains "公务员"', "职业含公务员", None),
    ("occ_student", "学生", "basic", None, 'occupation contains "学生"', "职业含学生", None),
    ("freq_high", "高频购买", "behaviour", "frequency", "count(orders, 30d) >= 3",
     "近30天（一个月）购买≥3次", "count(orders, 90d) = 0"),
    ("freq_medium", "中频购买", "behaviour", "frequency", "count(orders, 30d) >= 1 and count(orders, 30d) <= 2",
     "近30天购买1–2次", "count(orders, 90d) = 0"),
    ("freq_low", "低频购买", "behaviour", "frequency",
     "count(orders) >= 1 and count(orders, 30d) = 0 and count(orders, 90d) <= 1",
     "曾购买，近90天（一个季度）≤1次且近30天无购买", "count(orders, 30d) >= 3"),
    ("amount_high", "高消费", "behaviour", "amount", f"{AMOUNT_365} >= 100000", "近365天消费≥¥100,000",
     f"{AMOUNT_365} < 30000"),
    ("amount_medium", "中消费", "behaviour", "amount", f"{AMOUNT_365} >= 30000 and {AMOUNT_365} < 100000",
     "近365天消费¥30,000–100,000（不含）", None),
    ("amount_low", "低消费", "behaviour", "amount", f"count(orders) >= 1 and {AMOUNT_365} < 30000",
     "曾购买，近365天消费<¥30,000", f"{AMOUNT_365} >= 100000"),
    ("pref_online", "偏好线上沟通", "preference", "channel",
     'count(followups, 365d, method="wechat") + count(followups, 365d, method="email") > '
     'count(followups, 365d, method="visit") + count(followups, 365d, method="meeting")',
     "近一年微信/邮件跟进多于拜访/会议", None),
    ("pref_offline", "偏好线下沟通", "preference", "channel",
     'count(followups, 365d, method="visit") + count(followups, 365d, method="meeting") > '
     'count(followups, 365d, method="wechat") + count(followups, 365d, method="email")',
     "近一年拜访/会议多于微信/邮件跟进", None),
    ("vip", "VIP", "value", None, None, "由业务部门指定的VIP客户（手工标签；A级客户包含全部VIP）", None),
    ("strategic", "战略合作伙伴", "value", None, None, "由业务部门指定（手工标签）", None),
    ("potential", "潜在客户（意向/待转化）", "value", "lifecycle",
     'count(orders) = 0 and (count(leads) >= 1 or count(communications, 180d, intent="strong") >= 1'
     ' or count(communications, 180d, intent="moderate") >= 1)',
     "尚未成交，有商机或近180天沟通中有合作意向", "count(orders) >= 1"),
    ("active", "活跃客户", "value", "lifecycle", "days_since(orders) <= @active_days",
     "最近一次购买在 @active_days 天内（默认90天）", "days_since(orders) > @active_days"),
    ("dormant", "沉睡客户", "value", "lifecycle",
     "days_since(orders) > @active_days and days_since(orders) < @churn_days",
     "最近一次购买在 @active_days 天以前、@churn_days 天以内", None),
    ("churned", "流失客户", "value", "lifecycle", "days_since(orders) >= @churn_days",
     "@churn_days 天（默认180天）内无购买；再次购买即回到活跃", "days_since(orders) < @churn_days"),
]

LINE_RULE = ('sum(items.amount, 365d) > 0 and sum(items.amount, 365d, line="{code}") >= 0.4 * sum(items.amount, 365d)')

#: grading settings (SPEC §6 defaults): A = top `a_top` by spend over `grade_period_days` plus VIPs, B = ranks up to
#: `b_top` or top `b_freq_top` by frequency, C = spend within 365 days, D = potential
GRADE_DEFAULTS = {"a_top": 15, "b_top": 30, "b_freq_top": 15}
#: the scheduled full evaluation (`kehu.tags.schedule`): on the first day of every quarter (SPEC §6) at 02:00
#: company time; `period` one of `schedule.PERIODS`, `hour` 0–23
SCHEDULE_DEFAULTS: dict[str, Any] = {"period": "quarterly", "hour": 2}


def ensure(session: Session) -> int:
    """Create missing built-in tags (with an active version 1) and one preference tag per product line."""
    from kehu.orders.models import ProductLine

    have = set(session.execute(select(Tag.code)).scalars())
    wanted = list(BUILTIN)
    for code, name in session.execute(select(ProductLine.code, ProductLine.name)):
        wanted.append((f"line_{code.lower()}", f"偏好：{name}"[:60], "preference", None, LINE_RULE.format(code=code),
                       f"近365天在产品线「{name}」的消费占≥40%", None))
    added = 0
    for code, name, family, group, rule, desc, contra in wanted:
        if code in have:
            continue
        tag = Tag(id=new_id(), code=code, name=name, family=family, description=desc, exclusive_group=group,
                  mode="rule" if rule else "manual", builtin=True, active=True, contradiction=contra)
        session.add(tag)
        if rule:
            session.add(TagRule(id=new_id(), tag_id=tag.id, version=1, expression=rule, status="active",
                                note="系统内置规则"))
        added += 1
    if added:
        session.flush()
    return added


def settings(session: Session) -> dict[str, Any]:
    """All tagging settings: parameters, grade ranks, the evaluation schedule, stored figures (JSON values)."""
    stored = {k: json.loads(v) for k, v in session.execute(select(TagSetting.key, TagSetting.value))}
    params = {**PARAMS, **{k.removeprefix("param."): int(v) for k, v in stored.items() if k.startswith("param.")}}
    grade = {**GRADE_DEFAULTS, **{k.removeprefix("grade."): int(v) for k, v in stored.items()
                                  if k.startswith("grade.") and k.removeprefix("grade.") in GRADE_DEFAULTS}}
    schedule = {**SCHEDULE_DEFAULTS, **{k.removeprefix("schedule."): v for k, v in stored.items()
                                        if k.startswith("schedule.") and k.removeprefix("schedule.") in SCHEDULE_DEFAULTS}}
    return {"params": params, "grade": grade, "schedule": schedule, "stored": stored}


def put(session: Session, key: str, value: Any) -> None:
    """Store one setting or figure (JSON)."""
    row = session.get(TagSetting, key)
    text = json.dumps(value, ensure_ascii=False, default=str)
    if row is None:
        session.add(TagSetting(key=key, value=text))
    else:
        row.value = text
