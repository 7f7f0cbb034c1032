"""Access-control tables."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kehu.db import Base, UTCDateTime, utcnow

SCOPES = (("own", "本人负责的客户"), ("department", "本部门及下级部门"), ("all", "全部客户"))
ALL_IMPORTANCE = "normal,core,key"
#: Capabilities outside customer data, held by roles.
CAPABILITIES = {
    "manage_users": "管理用户与部门",
    "manage_roles": "管理角色与授权",
    "manage_catalog": "管理字段分类分级",
    "read_audit": "查阅操作日志",
    "manage_products": "管理产品目录",
    "manage_pool": "管理公海、回访与关怀规则",
    "manage_lead_stages": "管理商机阶段",
    "manage_surveys": "管理满意度调查问卷",
    # ---- reports ----
    #
    # ---- flow ----
    #
    # ---- imports ----
    #
    # ---- consent ----
    "manage_consent": "管理处理目的与隐私政策版本",
    #
    # ---- intake ----
    "review_intake": "审核收集渠道提交的客户信息",
    "manage_intake": "管理收集渠道与接入系统",
    #
    # ---- approvals ----
    #
    # ---- exports ----
    "approve_export": "审批一级字段明文导出",
    #
    # ---- tags ----
    "manage_tags": "管理客户标签、规则与分组设置",
    "review_tags": "审核标签规则与抽检标签质量",
    #
    # ---- supervision ----
    "read_alerts": "查看与处理异常访问报警",
    "manage_alarms": "设置报警规则",
    #
    # ---- ops ----
    #
    # ---- privacy ----
    "handle_rights_requests": "处理个人信息权利请求",
    "manage_retention": "管理保存期限、法律保全与销毁申请",
    "approve_destruction": "审批个人信息销毁",
    "approve_share": "审批向第三方共享个人信息",
    #
}


class Department(Base):
    """A department in the organisation tree; `path` lets a subtree be selected with one prefix match."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    path: Mapped[str] = mapped_column(String(400), nullable=False, index=True)  # "/rootid/childid/"


class Role(Base):
    """A role: data scope, capabilities and level × action grants."""

    __tablename__ = "roles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    scope: Mapped[str] = mapped_column(String(12), nullable=False, default="own")
    capabilities: Mapped[str] = mapped_column(String(1000), nullable=False, default="")  # comma-separated
    #: customer importance classes (普通/核心/重要) the role may see at all, comma-separated
    importance: Mapped[str] = mapped_column(String(40), nullable=False, default=ALL_IMPORTANCE,
                                            server_default=ALL_IMPORTANCE)
    builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    grants: Mapped[list["Grant"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def importance_set(self) -> frozenset[str]:
        """Importance classes visible to the role."""
        return frozenset(c for c in self.importance.split(",") if c)

    @property
    def capability_set(self) -> frozenset[str]:
        """Capabilities as a set."""
        return frozenset(c for c in self.capabilities.split(",") if c)


class Grant(Base):
    """Permission for one action on fields of one sensitivity level."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("role_id", "action", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), nullable=False)
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)


class User(Base):
    """An employee account."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(60), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"), nullable=False)
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    role: Mapped[Role] = relationship(lazy="joined")
    department: Mapped[Department | None] = relationship(lazy="joined")


class Token(Base):
    """An API token or web session; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, default="api")  # api | web
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    csrf: Mapped[str | None] = mapped_column(String(64))


class KnownCapability(Base):
    """A capability this store has met: the built-in roles got it then, once (`service.sync_builtin_capabilities`)."""

    __tablename__ = "known_capabilities"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
