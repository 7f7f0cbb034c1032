"""Every text of the web UI, per locale (zh-CN first). Templates and handlers only ask `t(key)`.

Field labels, choice labels and domain error messages come from the catalogue and the services
(they are domain data); everything the UI itself says is here, so a second locale is one more table.
A test checks that every key used by a template or handler exists and that no other web file holds
Chinese text.
"""
from __future__ import annotations

from datetime import timedelta, timezone, tzinfo

ZH_CN: dict[str, str] = {
    # application frame
    "app.name": "客户信息管理系统",
    "app.brand": "客户 Kehu",
    "app.skip": "跳到正文",
    "app.signed_in_as": "{name}（{role}）",
    "app.logout": "退出登录",
    "app.home_empty": "您的账户暂无可用的功能，请联系系统管理员分配角色。",
    "app.title_home": "首页",
    "nav.customers": "客户档案",
    "nav.users": "用户",
    "nav.departments": "部门",
    "nav.roles": "角色与授权",
    "nav.catalog": "字段分类分级",
    "nav.audit": "操作日志",
    "nav.main": "主导航",
    # common words
    "common.save": "保存",
    "common.cancel": "取消",
    "common.back": "返回",
    "common.edit": "编辑",
    "common.delete": "删除",
    "common.add": "新增",
    "common.search": "查询",
    "common.reset": "重置",
    "common.all": "全部",
    "common.none": "—",
    "common.yes": "是",
    "common.no": "否",
    "common.actions": "操作",
    "common.empty_option": "（请选择）",
    "common.required_legend": "标 ※ 的为必填项",
    "common.required_mark": "※",
    "common.required_title": "必填",
    "common.form_errors": "输入有误，请检查标注的字段。",
    "common.reason": "变更原因",
    "common.reason_help": "至少2个字，将记入变更历史",
    "common.reason_optional": "说明（可选）",
    "common.no_right": "无权查看",
    "common.masked_title": "已脱敏显示",
    "common.colon": "：",
    "common.list_sep": "；",
    # flash messages after a redirect (?ok=key)
    "flash.created": "已创建。",
    "flash.saved": "已保存。",
    "flash.deleted": "已删除。",
    "flash.unlocked": "账户已解锁。",
    # login
    "login.title": "登录",
    "login.heading": "登录客户信息管理系统",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.expired": "会话已过期，请重新登录。",
    "login.bye": "您已安全退出。",
    "login.csrf": "登录页面已过期，请重新输入。",
    "login.notice": "本系统含客户个人信息，所有操作均被记录。",
    # errors
    "error.not_found_title": "未找到",
    "error.not_found": "未找到该页面或记录，或您无权查看。",
    "error.csrf_title": "请求已失效",
    "error.csrf": "页面已过期或请求来源无效（CSRF 校验失败），请刷新页面后重试。",
    "error.bad_request_title": "请求无效",
    "error.bad_request": "请求参数无效。",
    "error.method": "不支持的请求方法。",
    "error.internal_title": "系统错误",
    "error.internal": "系统内部错误，请稍后再试。如问题持续，请联系系统管理员。",
    "error.generic_title": "无法完成操作",
    "error.home": "返回首页",
    # customer list
    "list.title": "客户档案",
    "list.search": "搜索",
    "list.search_placeholder": "姓名、拼音（如 zs / zhangsan）、手机、身份证号、邮箱或档案编号",
    "list.sort": "排序",
    "list.empty": "没有符合条件的客户。",
    "list.more": "加载更多",
    "list.new": "新建客户",
    "list.filters": "筛选条件",
    "list.mine": "我负责的",
    "list.results": "客户列表",
    "sort.new": "最新建档",
    "sort.old": "最早建档",
    "sort.name": "姓名拼音",
    "sort.archive_no": "档案编号",
    "sort.updated": "最近更新",
    # customer detail
    "detail.tab_archive": "档案",
    "detail.tab_history": "变更历史",
    "detail.card": "打印信息卡",
    "detail.edit": "编辑档案",
    "detail.created": "建档时间",
    "detail.updated": "更新时间",
    "detail.version": "版本",
    "detail.owner": "负责人",
    "detail.minor": "未成年人（个人信息按一级保护）",
    "detail.children_empty": "暂无记录",
    "section.basic": "基本信息",
    "section.management": "管理信息",
    "section.business": "业务信息",
    "section.financial": "财务信息",
    "section.preference": "个人偏好",
    "entity.customer": "客户",
    "entity.contact": "联系人",
    "entity.address": "地址簿",
    "entity.anniversary": "纪念日",
    "entity.relation": "关联人",
    # reveal
    "reveal.button": "查看完整信息",
    "reveal.title": "查看完整信息",
    "reveal.field": "字段",
    "reveal.reason": "查看原因",
    "reveal.reason_help": "必填，至少2个字。查看明文将记入操作日志。",
    "reveal.submit": "查看",
    "reveal.countdown": "{n} 秒后自动隐藏",
    "reveal.page_title": "完整信息",
    "reveal.shown_for": "该信息将显示 {n} 秒。",
    # history
    "history.title": "变更历史",
    "history.when": "时间",
    "history.who": "操作人",
    "history.what": "字段",
    "history.change": "变更内容",
    "history.why": "原因",
    "history.more": "更早的记录",
    "history.empty": "暂无变更记录。",
    "op.create": "新建",
    "op.update": "修改",
    "op.delete": "删除",
    # forms
    "form.new_title": "新建客户档案",
    "form.edit_title": "编辑客户档案",
    "form.kind": "客户类型",
    "form.masked_placeholder": "当前：{value}（留空则不修改）",
    "form.clear": "清空此项",
    "form.date_placeholder": "YYYY-MM-DD",
    "form.readonly_help": "无权修改",
    "form.duplicate_link": "打开已有档案",
    "form.create_submit": "创建档案",
    "form.child_new": "新增{entity}",
    "form.child_edit": "编辑{entity}",
    "form.child_delete": "删除{entity}",
    "form.child_delete_confirm": "确定删除这条{entity}记录吗？删除后原值仍保留在变更历史中。",
    "form.delete_reason": "删除原因",
    # print card
    "card.title": "客户信息卡",
    "card.print": "打印",
    "card.issued": "打印时间",
    "card.printed_by": "打印人",
    "card.confidential": "内部资料 · 注意保密 · 用后交回",
    "card.log": "领取 / 交回登记",
    "card.taken_by": "领取人",
    "card.taken_at": "领取时间",
    "card.returned_by": "交回人",
    "card.returned_at": "交回时间",
    # administration
    "admin.users_title": "用户管理",
    "admin.username": "用户名",
    "admin.display_name": "姓名",
    "admin.password": "密码",
    "admin.new_password": "重设密码",
    "admin.new_password_help": "留空则不修改；至少10位，包含字母、数字、符号中的两类",
    "admin.role": "角色",
    "admin.department": "部门",
    "admin.active": "启用",
    "admin.status": "状态",
    "admin.active_yes": "启用",
    "admin.active_no": "停用",
    "admin.locked": "已锁定",
    "admin.last_login": "最近登录",
    "admin.unlock": "解锁",
    "admin.new_user": "新建用户",
    "admin.edit_user": "编辑用户：{name}",
    "admin.departments_title": "部门管理",
    "admin.department_name": "部门名称",
    "admin.parent": "上级部门",
    "admin.no_parent": "（无，作为顶级部门）",
    "admin.new_department": "新建部门",
    "admin.roles_title": "角色与授权",
    "admin.roles_intro": "每个角色按信息级别（一级最敏感）逐项授权；未勾选即不允许。修改在用户的下一次请求时生效。",
    "admin.scope": "数据范围",
    "admin.importance": "可见客户类别",
    "admin.capabilities": "系统权限",
    "admin.builtin": "内置",
    "admin.action": "操作",
    "admin.save_grants": "保存授权",
    "admin.new_role": "新建角色",
    "admin.role_code": "角色代码",
    "admin.role_name": "角色名称",
    "admin.grant_label": "{role}：{action} · {level}信息",
    "admin.catalog_title": "字段分类分级",
    "admin.catalog_intro": ("每个字段只在此声明一次：级别、脱敏规则与加密决定存储、显示、授权和审计。"
                            "级别只能提高（数字越小越敏感）。"),
    "admin.entity": "对象",
    "admin.field": "字段",
    "admin.label": "名称",
    "admin.level": "级别",
    "admin.category": "类别",
    "admin.mask": "脱敏规则",
    "admin.encrypted": "加密",
    "admin.blind_index": "可精确检索",
    "admin.retention": "保存期限",
    "admin.required": "必填",
    "admin.adjust": "调整",
    "admin.change_field": "调整字段：{label}",
    "admin.declared_level": "声明级别",
    "admin.change_reason": "调整原因",
    "admin.level_help": "只能提高级别；降低级别需要第二审批人。",
    "mask.id_number": "身份证号（保留前4后4位）",
    "mask.mobile": "手机（保留前3后4位）",
    "mask.phone": "固定电话（保留区号与末2位）",
    "mask.email": "邮箱（保留首字符与域名）",
    "mask.name": "姓名（保留姓氏）",
    "mask.account": "账号（保留末4位）",
    "mask.address": "地址（保留前3个字）",
    "mask.date": "日期（保留年份）",
    "mask.all": "全部隐藏",
    "mask.none": "不脱敏",
    # audit
    "audit.title": "操作日志",
    "audit.user": "操作人",
    "audit.user_help": "用户名",
    "audit.customer": "客户档案编号",
    "audit.action": "操作类型",
    "audit.action_help": "前缀匹配，如 customer.",
    "audit.since": "起始日期",
    "audit.until": "截止日期",
    "audit.seq": "序号",
    "audit.time": "时间",
    "audit.outcome": "结果",
    "audit.fields": "涉及字段",
    "audit.reason": "原因",
    "audit.ip": "IP",
    "audit.empty": "没有符合条件的日志。",
    "audit.more": "更早的日志",
    "audit.verify_loading": "正在校验日志链……",
    "audit.verify_ok": "日志链完整：已校验 {n} 条记录，未发现篡改、删除或截断。",
    "audit.verify_bad": "日志链异常：{problem}（已校验 {n} 条）",
    "outcome.ok": "成功",
    "outcome.denied": "拒绝",
    "outcome.failed": "失败",
    "action.auth.login": "登录",
    "action.auth.logout": "退出",
    "action.customer.list": "浏览客户列表",
    "action.customer.read": "查看档案",
    "action.customer.create": "新建档案",
    "action.customer.update": "修改档案",
    "action.customer.archive": "归档",
    "action.customer.reveal": "查看完整信息",
    "action.customer.history": "查看变更历史",
    "action.contact.create": "新增联系人",
    "action.contact.update": "修改联系人",
    "action.contact.delete": "删除联系人",
    "action.address.create": "新增地址",
    "action.address.update": "修改地址",
    "action.address.delete": "删除地址",
    "action.anniversary.create": "新增纪念日",
    "action.anniversary.update": "修改纪念日",
    "action.anniversary.delete": "删除纪念日",
    "action.relation.create": "新增关联人",
    "action.relation.update": "修改关联人",
    "action.relation.delete": "删除关联人",
    "action.audit.query": "查阅日志",
    "action.audit.verify": "校验日志链",
    "action.admin.user.create": "新建用户",
    "action.admin.user.update": "修改用户",
    "action.admin.user.list": "查看用户",
    "action.admin.role.create": "新建角色",
    "action.admin.role.grants": "修改授权",
    "action.admin.role.list": "查看角色",
    "action.admin.department.create": "新建部门",
    "action.admin.department.list": "查看部门",
    "action.admin.catalog.change": "调整字段分级",
    "action.admin.catalog.list": "查看字段目录",
    # ---- reports ----
    "nav.reports": "统计报表",
    "reports.title": "统计报表",
    "reports.scope_note": "仅统计您有权查看的客户。",
    "reports.params": "报表条件",
    "reports.period": "统计期间",
    "reports.period_help": "如 2026、2026-Q3、2026-07",
    "reports.as_of": "逾期计算日",
    "reports.show": "统计",
    "reports.export": "导出 Excel",
    "reports.period_range": "本期 {label}（{start} 至 {end}）",
    "reports.previous_range": "上期 {label}（{start} 至 {end}）",
    "reports.withheld": "您无权查看部分金额字段，相关金额未显示。",
    "reports.empty": "本期间没有数据。",
    "reports.this_period": "本期",
    "reports.last_period": "上期",
    "reports.customers": "客户数",
    "reports.name.growth": "客户增减分析",
    "reports.name.region": "客户区域分析",
    "reports.name.complaints": "投诉统计",
    "reports.name.sales": "销售与回款",
    "reports.about.growth": "期初、新增、减少（归档）、期末客户数，直接客户与间接客户，本期与上期对比。",
    "reports.about.region": "按省份、城市统计客户数、客户占比和销售额占比。",
    "reports.about.complaints": "按投诉类型、责任部门、处理方式统计投诉数量和损失金额。",
    "reports.about.sales": "按负责人、部门统计签约销售额、计划回款、实际回款和逾期应收。",
    "reports.measure.original": "期初",
    "reports.measure.new": "新增",
    "reports.measure.removed": "减少",
    "reports.measure.current": "期末",
    "reports.measure.planned": "计划回款",
    "reports.measure.received": "实际回款",
    "reports.measure.overdue": "逾期应收",
    "reports.chart.growth": "客户增减（本期与上期）",
    "reports.chart.mix": "期末客户构成",
    "reports.chart.customers_by_province": "客户数（按省份）",
    "reports.chart.sales_by_province": "销售额占比（按省份）",
    "reports.chart.sales_by_owner": "销售额（按负责人）",
    "reports.chart.receivables": "回款与逾期（按部门）",
    "action.report.growth": "查看客户增减分析",
    "action.report.region": "查看客户区域分析",
    "action.report.complaints": "查看投诉统计",
    "action.report.sales": "查看销售与回款报表",
    "action.report.export": "导出报表",
    #
    # ---- flow ----
    #
    # ---- imports ----
    #
    # ---- consent ----
    #
    # ---- intake ----
    #
    # ---- approvals ----
    #
    # ---- exports ----
    #
    # ---- tags ----
    #
    # ---- supervision ----
    #
    # ---- ops ----
    #
    # ---- privacy ----
    #
}

LOCALES: dict[str, dict[str, str]] = {"zh-CN": ZH_CN}
LOCALE = "zh-CN"
#: Times are shown in China Standard Time (UTC+8, no daylight saving) for zh-CN.
TIMEZONES: dict[str, tzinfo] = {"zh-CN": timezone(timedelta(hours=8), "CST")}


def t(key: str, /, **values: object) -> str:
    """The text of a key in the current locale, with `{name}` placeholders filled when values are given."""
    text = LOCALES[LOCALE][key]
    return text.format(**values) if values else text


def has(key: str) -> bool:
    """Whether the current locale has a text for this key (for keys built at run time)."""
    return key in LOCALES[LOCALE]


def t_or(key: str, default: str) -> str:
    """The text of a key built at run time (an action, a masking rule…), or `default` when there is none."""
    return LOCALES[LOCALE].get(key, default)


def local_tz() -> tzinfo:
    """The time zone times are shown in."""
    return TIMEZONES[LOCALE]
