"""The default roles of SPEC §3 and their grants (default deny: anything not listed is refused)."""
from __future__ import annotations

ALL_LEVELS = (1, 2, 3)

DEFAULT_ROLES: dict[str, dict] = {
    "admin": {
        "name": "系统管理员", "scope": "own",
        "capabilities": (),
        "grants": {},  # manages users, roles and the catalogue; sees no customer content
    },
    "dept_head": {
        "name": "部门负责人", "scope": "department", "capabilities": (),
        "grants": {"view": ALL_LEVELS, "reveal": ALL_LEVELS, "create": ALL_LEVELS, "modify": ALL_LEVELS,
                   "delete": (2, 3), "export": (2, 3)},
    },
    "info_manager": {
        "name": "信息管理员", "scope": "all", "capabilities": (),
        "grants": {a: ALL_LEVELS for a in ("view", "reveal", "create", "modify", "delete", "export", "share")},
    },
    "staff": {
        "name": "员工", "scope": "own", "capabilities": (),
        "grants": {"view": ALL_LEVELS, "reveal": (2, 3), "create": ALL_LEVELS, "modify": (2, 3)},
    },
    "auditor": {
        "name": "审计员", "scope": "own", "capabilities": (),
        "grants": {},  # reads the audit trail; sees no customer content
    },
}


#: Which default roles hold each capability (one line per capability; packages add theirs under their marker).
CAPABILITY_HOLDERS: dict[str, tuple[str, ...]] = {
    "manage_users": ("admin",),
    "manage_roles": ("admin",),
    "manage_catalog": ("admin",),
    "read_audit": ("auditor",),
    "manage_products": ("info_manager",),
    "manage_pool": ("info_manager",),
    "manage_lead_stages": ("info_manager",),
    "manage_surveys": ("info_manager",),
    # ---- reports ----
    #
    # ---- flow ----
    #
    # ---- imports ----
    #
    # ---- consent ----
    "manage_consent": ("info_manager",),
    #
    # ---- intake ----
    "review_intake": ("info_manager",),
    "manage_intake": ("admin", "info_manager"),
    #
    # ---- approvals ----
    #
    # ---- exports ----
    "approve_export": ("info_manager",),
    #
    # ---- tags ----
    "manage_tags": ("info_manager",),
    "review_tags": ("dept_head",),
    #
    # ---- supervision ----
    "read_alerts": ("auditor",),  # the supervision group (监督小组) works under the 审计员 role
    "manage_alarms": ("auditor",),
    #
    # ---- ops ----
    #
    # ---- privacy ----
    "handle_rights_requests": ("info_manager",),
    "manage_retention": ("info_manager",),
    "approve_destruction": ("info_manager",),
    "approve_share": ("info_manager",),
    #
}
for _cap, _roles in CAPABILITY_HOLDERS.items():
    for _role in _roles:
        DEFAULT_ROLES[_role]["capabilities"] += (_cap,)
