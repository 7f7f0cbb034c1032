"""Archive tables. Every column is declared once here with its catalogue entry (see catalog.spec)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, relationship

from kehu.catalog.spec import blind, field, system
from kehu.db import Base, UTCDateTime, utcnow

GENDERS = (("M", "男"), ("F", "女"), ("U", "未说明"))
KINDS = (("individual", "个人客户"), ("organisation", "企业/机构客户"))
STATUSES = (("active", "活动"), ("inactive", "非活动"), ("archived", "已归档"))
IMPORTANCE = (("normal", "普通客户"), ("core", "核心客户"), ("key", "重要客户"))
CHANNELS = (("web", "网站表单"), ("phone", "电话"), ("email", "电子邮件"), ("event", "活动/展会"),
            ("survey", "调查问卷"), ("card", "名片"), ("visit", "销售拜访"), ("third_party", "第三方"),
            ("system", "其他系统"), ("import", "批量导入"), ("referral", "客户介绍"), ("other", "其他"))
OPERATING = (("operating", "存续"), ("suspended", "停业"), ("cancelled", "注销"), ("revoked", "吊销"))
ANNIVERSARY_KINDS = (("birthday", "生日"), ("wedding", "结婚纪念日"), ("promotion", "升职纪念日"),
                     ("founding", "成立纪念日"), ("other", "其他"))
RELATION_KINDS = (("family", "家人"), ("spouse", "配偶"), ("assistant", "助理"), ("driver", "司机"),
                  ("friend", "朋友"), ("colleague", "同事"), ("other", "其他"))


class Customer(Base):
    """A customer archive (客户档案): an individual or an organisation."""

    __tablename__ = "customers"
    __entity__ = "customer"
    __table_args__ = (
        # keyset pages walk these in order; low-cardinality columns (status, region, province) get no
        # index of their own: an equality on them would make the planner sort a large part of the table
        Index("ix_customers_department", "department_id", "id"),
        Index("ix_customers_owner_id", "owner_id", "id"),
        Index("ix_customers_updated", "updated_at", "id"),
    )

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (time-ordered, bound into AAD)")
    archive_no: Mapped[str] = field("档案编号", level=3, category="management", length=20, writable=False,
                                    nullable=False, unique=True, help="KH+年份+序号，唯一且永不复用")
    kind: Mapped[str] = field("客户类型", level=3, category="management", kind="choice", choices=KINDS,
                              length=20, nullable=False)
    name: Mapped[str] = field("姓名/名称", level=2, category="identity", mask="name", length=100, nullable=False,
                              index=True)
    name_pinyin: Mapped[str | None] = system(String(400), index=True, why="full pinyin of the name, for search")
    name_initials: Mapped[str | None] = system(String(100), index=True, why="pinyin initials of the name, for search")
    gender: Mapped[str | None] = field("性别", level=2, category="identity", kind="choice", choices=GENDERS, length=1)
    birth_date: Mapped[date | None] = field("出生日期", level=2, category="identity", kind="date", mask="date",
                                            check="past_date")
    id_number: Mapped[bytes | None] = field("身份证号", level=1, category="identity", mask="id_number",
                                            encrypt=True, blind_index="id_number", check="id_number",
                                            retention="consent")
    id_number_bi: Mapped[bytes | None] = blind("id_number")
    uscc: Mapped[str | None] = field("统一社会信用代码", level=3, category="business", length=18,
                                     check="credit_code", index=True)
    mobile: Mapped[bytes | None] = field("手机", level=2, category="contact", mask="mobile", encrypt=True,
                                         blind_index="mobile", check="mobile")
    mobile_bi: Mapped[bytes | None] = blind("mobile")
    landline: Mapped[bytes | None] = field("固定电话", level=2, category="contact", mask="phone", encrypt=True,
                                           check="landline")
    email: Mapped[bytes | None] = field("电子邮箱", level=2, category="contact", mask="email", encrypt=True,
                                        blind_index="email", check="email")
    email_bi: Mapped[bytes | None] = blind("email")
    province: Mapped[str | None] = field("省份", level=3, category="location", length=20)
    city: Mapped[str | None] = field("城市", level=3, category="location", length=30)
    district: Mapped[str | None] = field("区县", level=2, category="location", length=30)
    street: Mapped[bytes | None] = field("街道地址", level=2, category="contact", mask="address", encrypt=True,
                                         length=200)
    postcode: Mapped[str | None] = field("邮政编码", level=2, category="contact", length=6, check="postcode")
    geo_location: Mapped[bytes | None] = field("精确位置(经纬度)", level=1, category="location", mask="all",
                                               encrypt=True, length=60, check="geo")
    occupation: Mapped[str | None] = field("职业/职务", level=2, category="identity", length=60)
    company: Mapped[str | None] = field("工作单位", level=2, category="identity", length=120)
    industry: Mapped[str | None] = field("行业", level=3, category="business", length=60)
    region: Mapped[str | None] = field("销售区域", level=3, category="management", length=40)
    source_channel: Mapped[str | None] = field("来源渠道", level=3, category="management", kind="choice",
                                               choices=CHANNELS, length=20)
    importance: Mapped[str] = field("客户重要性", level=3, category="management", kind="choice",
                                    choices=IMPORTANCE, length=10, nullable=False, default="normal")
    status: Mapped[str] = field("状态", level=3, category="management", kind="choice", choices=STATUSES,
                                length=10, nullable=False, default="active")
    owner_id: Mapped[str | None] = field("负责人", level=3, category="management", length=32, check="user_ref",
                                       erasure="erase")  # an erased archive has no owner (no pool recycling)
    department_id: Mapped[str | None] = field("所属部门", level=3, category="management", length=32,
                                              check="department_ref")
    # business information (企业客户)
    main_business: Mapped[str | None] = field("主营业务", level=3, category="business", length=500)
    registered_capital: Mapped[Decimal | None] = field("注册资本(万元)", level=3, category="business",
                                                       kind="decimal", check="non_negative")
    headcount: Mapped[int | None] = field("员工人数", level=3, category="business", kind="int",
                                          check="non_negative")
    operating_status: Mapped[str | None] = field("经营状态", level=3, category="business", kind="choice",
                                                 choices=OPERATING, length=12)
    competition: Mapped[str | None] = field("竞争情况", level=2, category="business", length=1000)
    cooperation_history: Mapped[str | None] = field("合作历史", level=2, category="transaction", length=2000)
    # financial (一级)
    bank_name: Mapped[bytes | None] = field("开户银行", level=1, category="financial", mask="all", encrypt=True,
                                            length=100)
    bank_account: Mapped[bytes | None] = field("银行账号", level=1, category="financial", mask="account",
                                               encrypt=True, check="bank_account", length=34)
    credit_rating: Mapped[bytes | None] = field("信用评级", level=1, category="financial", mask="all",
                                                encrypt=True, length=20)
    annual_income: Mapped[bytes | None] = field("年收入/资产状况", level=1, category="financial", mask="all",
                                                encrypt=True, length=100)
    # preferences (个人偏好)
    room_preference: Mapped[str | None] = field("房间/座位偏好", level=2, category="preference", length=200)
    dining_habits: Mapped[str | None] = field("饮食习惯", level=2, category="preference", length=200)
    allergies: Mapped[bytes | None] = field("过敏/健康状况", level=1, category="health", mask="all",
                                            encrypt=True, length=500)
    special_needs: Mapped[str | None] = field("特殊需求", level=2, category="preference", length=500)
    notes: Mapped[str | None] = field("备注", level=2, category="preference", length=2000)
    created_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="creation time")
    updated_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="last change time")
    created_by: Mapped[str | None] = system(String(32), why="user who created the archive")
    dek: Mapped[bytes] = system(LargeBinary, nullable=False, why="customer data key, wrapped by a master key")
    version: Mapped[int] = system(Integer, nullable=False, default=1, why="optimistic concurrency counter")

    contacts: Mapped[list["Contact"]] = relationship(back_populates="customer", cascade="all, delete-orphan",
                                                     order_by="Contact.id")
    addresses: Mapped[list["Address"]] = relationship(back_populates="customer", cascade="all, delete-orphan",
                                                      order_by="Address.id")
    anniversaries: Mapped[list["Anniversary"]] = relationship(back_populates="customer",
                                                              cascade="all, delete-orphan",
                                                              order_by="Anniversary.id")
    relations: Mapped[list["Relation"]] = relationship(back_populates="customer", cascade="all, delete-orphan",
                                                       order_by="Relation.id")


class Contact(Base):
    """A contact person (联系人) of an organisation customer."""

    __tablename__ = "contacts"
    __entity__ = "contact"

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), index=True,
                                      nullable=False, why="owning customer")
    name: Mapped[str] = field("联系人姓名", level=2, category="identity", mask="name", length=60, nullable=False)
    title: Mapped[str | None] = field("职务", level=2, category="identity", length=60)
    mobile: Mapped[bytes | None] = field("手机", level=2, category="contact", mask="mobile", encrypt=True,
                                         blind_index="mobile", check="mobile")
    mobile_bi: Mapped[bytes | None] = blind("mobile")
    landline: Mapped[bytes | None] = field("固定电话", level=2, category="contact", mask="phone", encrypt=True,
                                           check="landline")
    email: Mapped[bytes | None] = field("电子邮箱", level=2, category="contact", mask="email", encrypt=True,
                                        blind_index="email", check="email")
    email_bi: Mapped[bytes | None] = blind("email")
    is_primary: Mapped[str] = field("主要联系人", level=3, category="management", kind="choice",
                                    choices=(("yes", "是"), ("no", "否")), length=3, nullable=False, default="no")
    notes: Mapped[str | None] = field("备注", level=2, category="preference", length=1000)

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class Address(Base):
    """An entry of a customer's address book (地址簿)."""

    __tablename__ = "addresses"
    __entity__ = "address"

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), index=True,
                                      nullable=False, why="owning customer")
    label: Mapped[str] = field("地址类型", level=3, category="management", length=20, nullable=False,
                               help="如：注册地址、办公地址、收货地址")
    province: Mapped[str | None] = field("省份", level=3, category="location", length=20)
    city: Mapped[str | None] = field("城市", level=3, category="location", length=30)
    district: Mapped[str | None] = field("区县", level=2, category="location", length=30)
    street: Mapped[bytes] = field("街道地址", level=2, category="contact", mask="address", encrypt=True,
                                  length=200, nullable=False)
    postcode: Mapped[str | None] = field("邮政编码", level=2, category="contact", length=6, check="postcode")
    recipient: Mapped[str | None] = field("收件人", level=2, category="identity", mask="name", length=60)

    customer: Mapped[Customer] = relationship(back_populates="addresses")


class Anniversary(Base):
    """An anniversary to remember (生日、结婚纪念日、升职日…)."""

    __tablename__ = "anniversaries"
    __entity__ = "anniversary"

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), index=True,
                                      nullable=False, why="owning customer")
    kind: Mapped[str] = field("纪念日类型", level=2, category="preference", kind="choice",
                              choices=ANNIVERSARY_KINDS, length=12, nullable=False)
    day: Mapped[date] = field("日期", level=2, category="preference", kind="date", nullable=False)
    note: Mapped[str | None] = field("说明", level=2, category="preference", length=200)

    customer: Mapped[Customer] = relationship(back_populates="anniversaries")


class Relation(Base):
    """An associated person (家人、助理、司机、朋友…) with its own sensitivity."""

    __tablename__ = "relations"
    __entity__ = "relation"

    id: Mapped[str] = system(String(32), primary_key=True, why="row id (bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), index=True,
                                      nullable=False, why="owning customer")
    kind: Mapped[str] = field("关系", level=2, category="identity", kind="choice", choices=RELATION_KINDS,
                              length=12, nullable=False)
    name: Mapped[str] = field("姓名", level=2, category="identity", mask="name", length=60, nullable=False)
    mobile: Mapped[bytes | None] = field("手机", level=2, category="contact", mask="mobile", encrypt=True,
                                         check="mobile")
    note: Mapped[str | None] = field("说明", level=2, category="preference", length=500)

    customer: Mapped[Customer] = relationship(back_populates="relations")


class ArchiveSequence(Base):
    """Per-year counter behind archive numbers; numbers are never reused."""

    __tablename__ = "archive_sequences"

    year: Mapped[int] = system(Integer, primary_key=True, why="calendar year")
    last: Mapped[int] = system(Integer, nullable=False, default=0, why="last number issued")


class History(Base):
    """One changed field of an archive: who, when, old → new, why (encrypted values stay encrypted)."""

    __tablename__ = "customer_history"
    __table_args__ = (Index("ix_customer_history_customer", "customer_id", "seq"),)

    seq: Mapped[int] = system(Integer, primary_key=True, autoincrement=True, why="order of changes")
    id: Mapped[str] = system(String(32), unique=True, nullable=False, why="row id (bound into AAD)")
    customer_id: Mapped[str] = system(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                                      why="customer whose archive changed")
    entity: Mapped[str] = system(String(20), nullable=False, why="catalogue entity of the changed record")
    record_id: Mapped[str] = system(String(32), nullable=False, why="changed record")
    field: Mapped[str] = system(String(40), nullable=False, why="catalogue field name")
    op: Mapped[str] = system(String(10), nullable=False, why="create / update / delete")
    old_value: Mapped[bytes | None] = system(LargeBinary, why="previous value (sealed when the field is)")
    new_value: Mapped[bytes | None] = system(LargeBinary, why="new value (sealed when the field is)")
    changed_by: Mapped[str | None] = system(String(32), why="user id")
    changed_at: Mapped[datetime] = system(UTCDateTime, nullable=False, default=utcnow, why="UTC time")
    reason: Mapped[str | None] = system(Text, why="stated reason for the change")
