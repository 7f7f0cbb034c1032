"""Realistic Chinese demo customers (Faker zh_CN, fixed seed) and the demo organisation loader.

`generate(n)` yields service-input rows — the body of `POST /api/v1/customers` without the reason:
customer fields plus optional `contacts` / `addresses` / `anniversaries` / `relations` lists — that
pass the catalogue validation and the archive rules. Word pools are built once per seed (Faker,
python-stdnum's administrative-division table) and combined with one seeded `random.Random`, so
the same seed always gives the same rows and a million rows take seconds, not minutes.
Identifiers (身份证号, 统一社会信用代码, mobiles, e-mails) are unique across the whole data set, so
the duplicate check never rejects a demo row.

`load_demo(kehu, n=…)` creates the demo departments and users (`DEMO_USERS`, `DEMO_PASSWORD`: the
one list the CLI prints) and bulk-loads the customers, spread over the sales staff by region.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

DEFAULT_SEED = 20261122
DEMO_PASSWORD = "Kehu-demo-2026"
#: the legal basis of the demo archives (as a staff member would record it at entry)
DEMO_CONSENT = {"purposes": ["service", "contract", "marketing"], "channel": "visit", "sensitive": True,
                "note": "演示数据"}
DEMO_REASON = "演示数据"

#: Demo departments: key → (name, parent key).
DEMO_DEPARTMENTS: dict[str, tuple[str, str | None]] = {
    "hq": ("总公司", None),
    "sales": ("销售部", "hq"),
    "east": ("华东销售组", "sales"),
    "south": ("华南销售组", "sales"),
    "north": ("华北销售组", "sales"),
    "service": ("客服部", "hq"),
}


@dataclass(frozen=True)
class DemoUser:
    """One demo login."""

    username: str
    display_name: str
    role: str
    department: str


#: The demo logins (all with DEMO_PASSWORD): one per default role and sales staff in three groups.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "系统管理员", "admin", "hq"),
    DemoUser("auditor", "审计员", "auditor", "hq"),
    DemoUser("info", "信息管理员", "info_manager", "hq"),
    DemoUser("info2", "信息管理员（复核）", "info_manager", "hq"),  # the second person of two-person approvals
    DemoUser("head", "销售部经理", "dept_head", "sales"),
    DemoUser("zhangwei", "张伟", "staff", "east"),
    DemoUser("lina", "李娜", "staff", "east"),
    DemoUser("wangfang", "王芳", "staff", "south"),
    DemoUser("liuyang", "刘洋", "staff", "south"),
    DemoUser("chenjie", "陈杰", "staff", "north"),
    DemoUser("yangmin", "杨敏", "staff", "north"),
)

#: Sales regions served by each sales group (customers are given to an owner of that group).
GROUP_REGIONS = {"east": ("华东", "华中"), "south": ("华南", "西南"), "north": ("华北", "东北", "西北")}

# --- geography ------------------------------------------------------------------------------
# city code (first 4 digits of the division code), region, landline area code, postcode, weight
_CITIES = (
    ("1101", "华北", "010", "100000", 9), ("3101", "华东", "021", "200000", 9), ("1201", "华北", "022", "300000", 4),
    ("5001", "西南", "023", "400000", 5), ("4401", "华南", "020", "510000", 7), ("4403", "华南", "0755", "518000", 7),
    ("4406", "华南", "0757", "528000", 3), ("3301", "华东", "0571", "310000", 6), ("3302", "华东", "0574", "315000", 3),
    ("3303", "华东", "0577", "325000", 2), ("3201", "华东", "025", "210000", 5), ("3205", "华东", "0512", "215000", 5),
    ("3202", "华东", "0510", "214000", 2), ("3401", "华东", "0551", "230000", 3), ("3501", "华东", "0591", "350000", 2),
    ("3502", "华东", "0592", "361000", 2), ("3701", "华东", "0531", "250000", 3), ("3702", "华东", "0532", "266000", 3),
    ("3601", "华东", "0791", "330000", 2), ("4201", "华中", "027", "430000", 5), ("4301", "华中", "0731", "410000", 4),
    ("4101", "华中", "0371", "450000", 4), ("5101", "西南", "028", "610000", 6), ("5301", "西南", "0871", "650000", 2),
    ("5201", "西南", "0851", "550000", 2), ("4501", "华南", "0771", "530000", 2), ("4601", "华南", "0898", "570000", 1),
    ("6101", "西北", "029", "710000", 4), ("6201", "西北", "0931", "730000", 1), ("6501", "西北", "0991", "830000", 1),
    ("2101", "东北", "024", "110000", 3), ("2102", "东北", "0411", "116000", 2), ("2201", "东北", "0431", "130000", 2),
    ("2301", "东北", "0451", "150000", 2), ("1301", "华北", "0311", "050000", 2), ("1401", "华北", "0351", "030000", 1),
    ("1501", "华北", "0471", "010000", 1),
)

_MOBILE_PREFIXES = {  # prefix: relative weight (all accepted by phonenumbers as CN mobiles)
    130: 3, 131: 3, 132: 3, 133: 3, 134: 2, 135: 4, 136: 4, 137: 4, 138: 5, 139: 5, 145: 1, 147: 1, 150: 3,
    151: 3, 152: 3, 153: 2, 155: 2, 156: 2, 157: 2, 158: 3, 159: 3, 166: 1, 173: 1, 175: 1, 176: 2, 177: 2,
    178: 1, 180: 2, 181: 2, 182: 2, 183: 2, 185: 2, 186: 3, 187: 3, 188: 3, 189: 3, 191: 1, 198: 1, 199: 2,
}
_PERSONAL_MAIL = (("qq.com", 30), ("163.com", 20), ("126.com", 8), ("sina.com", 4), ("foxmail.com", 5),
                  ("139.com", 3), ("outlook.com", 3), ("gmail.com", 2), ("hotmail.com", 1), ("aliyun.com", 2))
_BRAND_CHARS = "华信达通瑞恒泰宏博鑫源盛嘉德隆安新天中联创科明远凯锦丰益和美佳成东汇金海"
_TRADES = (  # (company-name trade word, industry, main business)
    ("科技", "信息技术", "软件开发、信息系统集成服务"), ("信息技术", "信息技术", "云计算与数据服务"),
    ("电子", "电子制造", "电子元器件研发与销售"), ("贸易", "批发零售", "日用百货、五金交电批发"),
    ("实业", "制造业", "机械设备制造与销售"), ("机械制造", "制造业", "数控机床及配件生产"),
    ("医药", "医疗健康", "药品批发、医疗器械销售"), ("食品", "食品饮料", "预包装食品生产与销售"),
    ("建设工程", "建筑工程", "房屋建筑与市政工程施工"), ("物流", "物流运输", "道路货运、仓储服务"),
    ("文化传媒", "文化传媒", "广告设计、制作与发布"), ("新材料", "新材料", "高分子材料研发与生产"),
    ("环保科技", "节能环保", "污水处理与环保设备"), ("餐饮管理", "餐饮酒店", "餐饮服务与连锁经营管理"),
    ("教育科技", "教育培训", "职业技能培训与教育软件"), ("投资", "金融", "股权投资、投资咨询"),
    ("汽车销售服务", "汽车", "汽车销售与维修保养"), ("置业", "房地产", "房地产开发与经营"),
    ("酒店管理", "餐饮酒店", "酒店经营管理"), ("农业发展", "农业", "农产品种植与销售"),
)
_COMPANY_SUFFIXES = (("有限公司", 14), ("股份有限公司", 3), ("集团有限公司", 1))
_CONTACT_TITLES = ("总经理", "副总经理", "采购经理", "财务总监", "行政主管", "销售总监", "技术负责人", "董事长助理",
                   "办公室主任", "项目经理")
_ROOM = ("高楼层、远离电梯", "无烟房", "靠窗座位", "安静包间", "大床房", "过道座位", "近会议室", "朝南房间")
_DINING = ("清淡少油", "不吃辣", "素食", "喜辣", "不吃猪肉", "海鲜爱好者", "少糖", "偏好粤菜", "偏好川菜", "不喝酒")
_ALLERGIES = ("海鲜过敏", "花生过敏", "青霉素过敏", "乳糖不耐受", "花粉过敏", "高血压，忌高盐", "糖尿病，需无糖餐")
_NEEDS = ("需要无障碍通道", "携带儿童，需要儿童座椅", "需提供增值税专用发票", "请勿来电打扰，优先短信联系",
          "周末不接受拜访", "需要英文资料")
_NOTES = ("老客户介绍，重视售后服务", "对价格敏感，关注促销活动", "决策周期较长，需要定期跟进", "偏好线上沟通",
          "年底有集中采购计划", "曾投诉物流时效，已妥善处理")
_COOPERATION = ("2019年起合作，年度框架协议", "2021年首次合作，试点项目", "长期合作伙伴，续签三次",
                "2023年恢复合作", "通过招标建立合作关系")
_CHANNELS = (("web", 18), ("phone", 14), ("email", 6), ("event", 10), ("survey", 4), ("card", 8), ("visit", 16),
             ("third_party", 3), ("system", 6), ("import", 5), ("referral", 9), ("other", 1))
_IMPORTANCE = (("normal", 80), ("core", 15), ("key", 5))
_RELATIONS = (("spouse", 4), ("family", 3), ("assistant", 2), ("driver", 1), ("friend", 2), ("colleague", 1))
_BANKS = ("中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "交通银行", "招商银行", "浦发银行", "兴业银行")
_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class _City:
    province: str
    name: str
    region: str
    area: str
    local_len: int
    postcode: str
    districts: list[str]
    district_codes: list[str]
    counties: list[tuple[str, int, int]]  # (division code, first year, last year) for ID numbers
    fallback: str


def _loc_entries() -> dict[str, tuple[str, list[tuple[str, int, int]]]]:
    """python-stdnum's division table: code → (province, [(name, first year, last year)])."""
    text = (resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    out, province, prov_code = {}, "", ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            prov_code, _, rest = line.partition(" ")
            province = rest.split('"')[1]
            continue
        code, _, rest = line.strip().partition(" ")
        names = []
        for part in rest.split('"')[1].split(","):
            first, last = 0, 9999
            if part.startswith("["):
                span, part = part[1:].split("]")
                a, b = span.split("-")
                first, last = int(a or 0), int(b or 9999)
            names.append((part, first, last))
        out[prov_code + code] = (province, names)
    return out


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _org_code(body8: str) -> str:
    """Organisation code (GB 11714) check character for 8 digits."""
    c = 11 - sum(int(d) * w for d, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    return body8 + ("X" if c == 10 else "0" if c == 11 else str(c))


def _expand(weighted, scale: int = 1) -> list:
    return [item for item, w in weighted for _ in range(int(w * scale))]


class _Pools:
    """Everything drawn from Faker and the division table, built once per seed."""

    def __init__(self, seed: int):
        from faker import Faker
        from faker.providers.company.zh_CN import Provider as Company
        from faker.providers.job.zh_CN import Provider as Job
        from faker.providers.person.zh_CN import Provider as Person
        from pypinyin import lazy_pinyin

        from kehu.kit import validate as v

        fake = Faker("zh_CN")
        fake.seed_instance(seed)
        rng = random.Random(seed ^ 0x5EED)
        self.surnames = _expand(((s, w) for s, w in Person.last_names.items()), scale=20) or ["王"]
        self.male = list(Person.first_names_male)
        self.female = list(Person.first_names_female)
        self.male1 = [n for n in self.male if len(n) == 1]
        self.female1 = [n for n in self.female if len(n) == 1]
        self.streets = list(dict.fromkeys(fake.street_name() for _ in range(3000)))
        self.users = list(dict.fromkeys(fake.user_name() for _ in range(4000)))
        self.jobs = [j for j in dict.fromkeys(Job.jobs) if j != "其他" and len(j) <= 20]
        self.brand_prefixes = [p for p in Company.company_prefixes if "公司" not in p and len(p) <= 4]
        self.brand_pinyin = {c: lazy_pinyin(c)[0] for c in _BRAND_CHARS}
        self.prefix_pinyin = {p: "".join(lazy_pinyin(p)).lower() for p in self.brand_prefixes}
        self.mobile_prefixes = [str(p) for p in _expand(_MOBILE_PREFIXES.items())]
        self.mail = _expand(_PERSONAL_MAIL)
        self.channels = _expand(_CHANNELS)
        self.importance = _expand(_IMPORTANCE)
        self.relations = _expand(_RELATIONS)
        self.suffixes = _expand(_COMPANY_SUFFIXES)
        # unique identifiers: an affine permutation of 0..10^8-1 (distinct index → distinct digits)
        self.mul = rng.randrange(10**7, 10**8) | 1
        while self.mul % 5 == 0:
            self.mul += 2
        self.add = rng.randrange(10**8)
        self.mail_mul = rng.randrange(2**31, 2**32) | 1
        self.mail_add = rng.randrange(2**32)
        entries = _loc_entries()
        self.cities: list[_City] = []
        weights = []
        for code4, region, area, postcode, weight in _CITIES:
            province = entries[code4[:2] + "0000"][1][-1][0]
            name = entries[code4 + "00"][1][-1][0]
            if name in ("市辖区", "县"):
                name = province
            districts, dcodes, counties = [], [], []
            for code, (_prov, names) in entries.items():
                if not code.startswith(code4) or code.endswith("00"):
                    continue
                cur, first, last = names[-1]
                if last == 9999 and cur not in ("市辖区", "市区", "郊区", "矿区"):
                    districts.append(cur)
                    dcodes.append(code)
                for nm, a, b in names:
                    if nm not in ("市辖区", "市区"):
                        counties.append((code, a, b))
            local_len = 8
            for length in (8, 7):
                try:
                    for _ in range(20):
                        v.landline(f"{area}-{rng.randint(2, 7)}{_digits(rng, length - 1)}")
                except v.Invalid:
                    continue
                local_len = length
                break
            self.cities.append(_City(province, name, region, area, local_len, postcode, districts, dcodes,
                                     counties, code4 + "00"))
            weights.append(weight)
        self.city_pool = _expand(zip(self.cities, weights))


@lru_cache(maxsize=4)
def _pools(seed: int) -> _Pools:
    return _Pools(seed)


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


class _Gen:
    """Row generator over the pools; `k` slots make identifiers unique across the data set."""

    def __init__(self, seed: int):
        self.p = _pools(seed)
        self.rng = random.Random(seed)
        self.ids: set[int] = set()
        self.usccs: set[int] = set()
        self.rnd = self.rng.random

    # random.Random.choice/randint are pure Python; these use one C call each (same seed, same rows)
    def pick(self, seq):
        return seq[int(self.rnd() * len(seq))]

    def ri(self, a: int, b: int) -> int:
        return a + int(self.rnd() * (b - a + 1))

    # identifiers ---------------------------------------------------------------------------
    def mobile(self, k: int) -> str:
        p = self.p
        return self.pick(p.mobile_prefixes) + f"{(k * p.mul + p.add) % 100000000:08d}"

    def email(self, k: int, domain: str | None = None, user: str | None = None) -> str:
        p = self.p
        code = _b36((k * p.mail_mul + p.mail_add) % 2**32)
        return f"{user or self.pick(p.users)}.{code}@{domain or self.pick(p.mail)}"

    def landline(self, city: _City) -> str:
        r = self.rng
        return f"{city.area}-{self.ri(2, 7)}{int(r.random() * (10 ** (city.local_len - 1))):0{city.local_len - 1}d}"

    def id_number(self, city: _City, year: int, mmdd: str, male: bool) -> str:
        from stdnum.cn import ric

        r = self.rng
        if r.random() > 0.7:
            city = self.pick(self.p.city_pool)
        area = None
        for _ in range(6):
            code, first, last = self.pick(city.counties)
            if first <= year <= last:
                area = code
                break
        while area is None:  # rare: no county of this city existed in that year (e.g. 重庆 before 1997)
            valid = [code for code, first, last in city.counties if first <= year <= last]
            area = self.pick(valid) if valid else None
            city = self.pick(self.p.city_pool)
        while True:
            body = f"{area}{year}{mmdd}{int(r.random() * 500) * 2 + (1 if male else 0):03d}"
            if int(body) not in self.ids:
                self.ids.add(int(body))
                return body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder check digit

    def uscc(self, city: _City) -> str:
        from stdnum.cn import uscc

        r = self.rng
        while True:
            org = int(r.random() * 10**8)
            if org not in self.usccs:
                self.usccs.add(org)
                break
        div = self.pick(city.district_codes) if city.district_codes else city.fallback
        body = "91" + div + _org_code(f"{org:08d}")
        return body + uscc.calc_check_digit(body)

    # parts ----------------------------------------------------------------------------------
    def person_name(self, male: bool) -> str:
        r, p = self.rng, self.p
        given = self.pick(p.male if male else p.female)
        if len(given) == 1 and r.random() < 0.55:
            given += self.pick(p.male1 if male else p.female1)
        return self.pick(p.surnames) + given

    def address(self, row: dict, city: _City, *, org: bool) -> None:
        r = self.rng
        row["province"], row["city"], row["region"] = city.province, city.name, city.region
        if city.districts:
            row["district"] = self.pick(city.districts)
        street = f"{self.pick(self.p.streets)}{self.ri(1, 999)}号"
        if org:
            street += self.pick(("", f"{self.pick('ABCDE')}座{self.ri(2, 30)}层", f"{self.ri(1, 12)}幢"))
        else:
            street += f"{self.ri(1, 30)}栋{self.ri(1, 6)}单元{self.ri(1, 32)}{self.ri(1, 4):02d}室"
        row["street"] = street
        if r.random() < 0.5:
            row["postcode"] = city.postcode[:4] + f"{self.ri(0, 99):02d}"

    def birth(self) -> tuple[int, str]:
        r = self.rng
        year = min(2004, max(1945, int(r.gauss(1982, 12))))
        month = self.ri(1, 12)
        return year, f"{month:02d}{self.ri(1, _DAYS[month]):02d}"

    def company(self, city: _City) -> tuple[str, str, str, str]:
        """(name, trade industry, main business, brand pinyin)."""
        r, p = self.rng, self.p
        if r.random() < 0.3 and p.brand_prefixes:
            brand = self.pick(p.brand_prefixes)
            py = p.prefix_pinyin[brand]
        else:
            a, b = self.pick(_BRAND_CHARS), self.pick(_BRAND_CHARS)
            brand, py = a + b, p.brand_pinyin[a] + p.brand_pinyin[b]
        trade, industry, business = self.pick(_TRADES)
        place = city.name.removesuffix("市")
        return f"{place}{brand}{trade}{self.pick(p.suffixes)}", industry, business, py

    # rows -----------------------------------------------------------------------------------
    def individual(self, i: int) -> dict[str, Any]:
        r, p = self.rng, self.p
        city = self.pick(p.city_pool)
        g = r.random()
        gender = "M" if g < 0.495 else "F" if g < 0.99 else "U"
        male = gender == "M" or (gender == "U" and r.random() < 0.5)
        name = self.person_name(male)
        year, mmdd = self.birth()
        row: dict[str, Any] = {"kind": "individual", "name": name, "gender": gender,
                               "birth_date": f"{year}-{mmdd[:2]}-{mmdd[2:]}"}
        if r.random() < 0.75:
            row["id_number"] = self.id_number(city, year, mmdd, male)
        importance = self.pick(p.importance)
        row["importance"] = importance
        if r.random() < 0.95:
            row["mobile"] = self.mobile(i * 4)
        if "mobile" not in row or r.random() < 0.15:
            row["landline"] = self.landline(city)
        if importance == "key" or r.random() < 0.6:
            row["email"] = self.email(i * 4)
        self.address(row, city, org=False)
        if importance == "key" or r.random() < 0.8:
            row["occupation"] = self.pick(p.jobs)
        if r.random() < 0.55:
            row["company"], row["industry"], _b, _py = self.company(city)
        row["source_channel"] = self.pick(p.channels)
        if r.random() < 0.12:
            row["room_preference"] = self.pick(_ROOM)
        if r.random() < 0.12:
            row["dining_habits"] = self.pick(_DINING)
        if r.random() < 0.04:
            row["allergies"] = self.pick(_ALLERGIES)
        if r.random() < 0.03:
            row["special_needs"] = self.pick(_NEEDS)
        if r.random() < 0.08:
            row["notes"] = self.pick(_NOTES)
        if importance != "normal" and r.random() < 0.3:
            row["annual_income"] = self.pick(("年收入30-50万", "年收入50-100万", "年收入100万以上", "资产千万级"))
        annivs = []
        if r.random() < 0.15:
            annivs.append({"kind": "birthday", "day": row["birth_date"], "note": "生日问候"})
        if r.random() < 0.06 and year < 1998:
            wy = self.ri(year + 22, min(2025, year + 40))
            month = self.ri(1, 12)
            annivs.append({"kind": "wedding", "day": f"{wy}-{month:02d}-{self.ri(1, _DAYS[month]):02d}"})
        if annivs:
            row["anniversaries"] = annivs
        if r.random() < 0.08:
            kind = self.pick(p.relations)
            rel = {"kind": kind, "name": self.person_name(r.random() < 0.5)}
            if r.random() < 0.7:
                rel["mobile"] = self.mobile(i * 4 + 1)
            if kind in ("assistant", "driver"):
                rel["note"] = "预约拜访请先联系" if kind == "assistant" else "接送安排联系"
            row["relations"] = [rel]
        if r.random() < 0.05:
            row["addresses"] = [{"label": "收货地址", "province": row["province"], "city": row["city"],
                                 "district": row.get("district"), "street": row["street"], "recipient": name}]
        return row

    def organisation(self, i: int) -> dict[str, Any]:
        r, p = self.rng, self.p
        city = self.pick(p.city_pool)
        name, industry, business, py = self.company(city)
        domain = py + self.pick((".com", ".com.cn", ".cn", ".net"))
        importance = self.pick(p.importance)
        row: dict[str, Any] = {"kind": "organisation", "name": name, "importance": importance}
        if r.random() < 0.9:
            row["uscc"] = self.uscc(city)
        if r.random() < 0.7:
            row["mobile"] = self.mobile(i * 4)
        if "mobile" not in row or r.random() < 0.9:
            row["landline"] = self.landline(city)
        if importance == "key" or r.random() < 0.7:
            row["email"] = self.email(i * 4, domain, self.pick(("info", "service", "contact", "sales", "admin")))
        self.address(row, city, org=True)
        row["industry"] = industry
        if r.random() < 0.6:
            row["main_business"] = business
        row["registered_capital"] = str(self.pick((50, 100, 200, 300, 500, 1000, 2000, 5000, 10000, 50000)))
        row["headcount"] = self.pick((8, 15, 30, 50, 80, 120, 200, 500, 1000, 3000))
        o = r.random()
        row["operating_status"] = "operating" if o < 0.95 else "suspended" if o < 0.98 else "cancelled"
        row["source_channel"] = self.pick(p.channels)
        if r.random() < 0.2:
            row["cooperation_history"] = self.pick(_COOPERATION)
        if r.random() < 0.05:
            row["bank_name"] = self.pick(_BANKS)
            row["bank_account"] = f"6{int(r.random() * 10**9):09d}{int(r.random() * 10**9):09d}"  # 银联 19 digits
        contacts = []
        for j in range(self.pick((1, 1, 2, 2, 3))):
            title = self.pick(_CONTACT_TITLES)
            c = {"name": self.person_name(r.random() < 0.6), "title": title, "mobile": self.mobile(i * 4 + 1 + j),
                 "is_primary": "yes" if j == 0 else "no"}
            if r.random() < 0.6:
                c["email"] = self.email(i * 4 + 1 + j, domain)
            contacts.append(c)
        row["contacts"] = contacts
        if importance == "key" or r.random() < 0.3:
            row["occupation"] = contacts[0]["title"]  # key customers need a title (SPEC §1)
        if r.random() < 0.3:
            row["addresses"] = [{"label": "办公地址", "province": row["province"], "city": row["city"],
                                 "district": row.get("district"), "street": row["street"]}]
        if r.random() < 0.1:
            row["anniversaries"] = [{"kind": "founding", "day": f"{self.ri(1995, 2020)}-{self.ri(1, 12):02d}-01",
                                     "note": "公司成立纪念日"}]
        return row


def generate(n: int, *, seed: int = DEFAULT_SEED) -> Iterator[dict[str, Any]]:
    """`n` demo rows (about 80 % individuals, 20 % organisations); the same seed gives the same rows."""
    gen = _Gen(seed)
    rnd = gen.rng.random
    for i in range(n):
        yield gen.individual(i) if rnd() < 0.8 else gen.organisation(i)


# --- loading ------------------------------------------------------------------------------------

@dataclass
class DemoLogin:
    """A demo login as printed by `kehu demo` (password None: the user existed and was left alone)."""

    username: str
    display_name: str
    role: str
    department: str
    password: str | None


@dataclass
class DemoResult:
    """What `load_demo` did."""

    logins: list[DemoLogin]
    created: int = 0
    rejected: int = 0
    seconds: float = 0.0
    errors: list = field(default_factory=list)  # first few row errors (kehu.customers.bulk.RowError)
    relationships: dict = field(default_factory=dict)  # rows per table written by kehu.demo_flow

    @property
    def rate(self) -> float:
        """Customers loaded per second."""
        return self.created / self.seconds if self.seconds else 0.0

    def __rich__(self):
        """The logins and a summary, for `console.print(result)` in the CLI."""
        from rich.table import Table

        table = Table(title=f"演示账号（已导入 {self.created} 位客户，{self.seconds:.1f} 秒"
                            + (f"，{self.rejected} 条被拒绝" if self.rejected else "") + "）")
        for column in ("用户名", "姓名", "角色", "部门", "密码"):
            table.add_column(column)
        for login in self.logins:
            table.add_row(login.username, login.display_name, login.role, login.department,
                          login.password or "（已存在，未修改）")
        if self.relationships:
            names = {"followup": "跟进记录", "communication": "沟通纪要", "order": "订单", "payment": "回款",
                     "complaint": "投诉", "survey": "满意度调查", "lead": "商机", "pool_entry": "公海客户"}
            table.caption = "、".join(f"{label} {self.relationships.get(k, 0)}" for k, label in names.items())
        return table


def ensure_demo_org(kehu) -> tuple[dict[str, str], dict[str, str], list[DemoLogin]]:
    """Create the demo departments and users when missing: (department ids, user ids, logins)."""
    from sqlalchemy import select

    from kehu.access import service as access
    from kehu.access.models import Department, User

    depts: dict[str, str] = {}
    users: dict[str, str] = {}
    logins: list[DemoLogin] = []
    with kehu.db.transaction() as s:
        for key, (name, parent) in DEMO_DEPARTMENTS.items():
            parent_id = depts.get(parent) if parent else None
            found = s.execute(select(Department).where(Department.name == name,
                                                       Department.parent_id.is_(None) if parent_id is None
                                                       else Department.parent_id == parent_id)).scalars().first()
            if found is None:
                found = access.create_department(s, None, name=name, parent_id=parent_id)
                s.flush()
            depts[key] = found.id
        for u in DEMO_USERS:
            existing = s.execute(select(User).where(User.username == u.username)).scalar_one_or_none()
            created = existing is None
            if created:
                existing = access.create_user(s, None, username=u.username, display_name=u.display_name,
                                              password=DEMO_PASSWORD, role_code=u.role,
                                              department_id=depts[u.department])
            users[u.username] = existing.id
            logins.append(DemoLogin(u.username, u.display_name, u.role, DEMO_DEPARTMENTS[u.department][0],
                                    DEMO_PASSWORD if created else None))
    return depts, users, logins


def load_demo(kehu, *, n: int, seed: int = DEFAULT_SEED, owners: list[str] | None = None, batch: int = 2000,
              progress: Callable[[int, int], None] | None = None,
              observe: Callable[[int, dict[str, Any]], None] | None = None, console=None,
              force: bool = False, analyze: bool = True, relationships: bool = True) -> DemoResult | None:
    """Create the demo organisation and bulk-load `n` customers (through kehu.customers.bulk).

    Customers go to the sales staff of the group serving their region (or round-robin over the
    usernames in `owners`); they are created as the information manager ("info"), one audit entry per
    batch. `progress(done, n)` is called after each committed batch; `observe(i, row)` sees every row;
    a Rich `console` gets a progress bar. A store that already holds customers is left alone (None)
    unless `force`. `analyze` refreshes the planner statistics afterwards (bulk loads skew them).
    `relationships` adds follow-ups, orders, payments, complaints, surveys, leads and pool entries for
    the new customers (`kehu.demo_flow`).
    """
    from sqlalchemy import func, select

    from kehu.access import service as access
    from kehu.access.models import User
    from kehu.customers import bulk
    from kehu.customers.models import Customer
    from kehu.runtime import Ctx

    if not force:
        with kehu.db.reader() as s:
            if s.execute(select(func.count()).select_from(select(Customer.id).limit(1).subquery())).scalar():
                if console is not None:
                    console.print("[red]数据库中已有客户档案，演示数据只能导入空库。[/red]")
                return None
    bar = None
    if console is not None and progress is None:
        from rich.progress import Progress

        bar = Progress(console=console, transient=True)
        task = bar.add_task("导入演示客户", total=n)
        bar.start()
        progress = lambda done, _total: bar.update(task, completed=done)  # noqa: E731
    depts, users, logins = ensure_demo_org(kehu)
    with kehu.db.reader() as s:
        info = s.get(User, users["info"])
        ctx = Ctx(kehu=kehu, principal=access.build_principal(s, info), catalog=kehu.catalog(s), ip=None)
    if owners:
        by_region = None
        owner_ids = [users[o] if o in users else o for o in owners]
    else:
        by_region = {}
        for group, regions in GROUP_REGIONS.items():
            staff = [users[u.username] for u in DEMO_USERS if u.role == "staff" and u.department == group]
            for region in regions:
                by_region[region] = staff
        owner_ids = [users[u.username] for u in DEMO_USERS if u.role == "staff"]
    result = DemoResult(logins=logins)
    started = time.perf_counter()  # the data only (password hashing of the users is not load time)
    wall = time.time() - 1  # customers created from here on get relationship data
    chunk: list[dict[str, Any]] = []
    done = 0

    def flush() -> None:
        nonlocal done
        with kehu.db.transaction() as s:
            out = bulk.create_many(s, ctx, chunk, reason=DEMO_REASON, consent=DEMO_CONSENT)
        result.created += out.created
        result.rejected += out.rejected
        if len(result.errors) < 20:
            result.errors += out.errors[: 20 - len(result.errors)]
        done += len(chunk)
        chunk.clear()
        if progress:
            progress(done, n)

    try:
        for i, row in enumerate(generate(n, seed=seed)):
            pool = by_region.get(row.get("region"), owner_ids) if by_region is not None else owner_ids
            row["owner_id"] = pool[i % len(pool)]
            if observe:
                observe(i, row)
            chunk.append(row)
            if len(chunk) >= batch:
                flush()
        if chunk:
            flush()
    finally:
        if bar is not None:
            bar.stop()
    if relationships and result.created:
        from datetime import datetime, timezone

        from kehu.demo_flow import load_relationships

        result.relationships = load_relationships(kehu, ctx=ctx, seed=seed, departments=depts,
                                                  since=datetime.fromtimestamp(wall, timezone.utc)).counts
        from kehu.tags.schedule import evaluate_recorded
        from kehu.tags.service import today

        with kehu.db.transaction() as s:  # bulk loads stage no events: tags and grades as `kehu tags evaluate`
            evaluate_recorded(kehu, s, as_of=today(), trigger="full", actor="demo")
    result.seconds = time.perf_counter() - started
    if analyze:
        analyze_store(kehu)
    return result


def analyze_store(kehu) -> None:
    """Refresh the query planner's statistics (SQLite: without them it may scan an owner's customers)."""
    with kehu.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit=2000")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
