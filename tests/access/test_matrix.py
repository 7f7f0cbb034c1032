"""Exhaustive role × level × action × scope matrix, through the HTTP API.

The oracle below is written from the specification (SPEC §3, access/defaults.py), not from
the policy code: an action on fields of level L is allowed iff the customer is inside the
role's scope and the role holds the action at every level the operation touches.
Outside the scope every operation answers 404 (never 403: existence is not disclosed).
"""
from __future__ import annotations

import itertools

import pytest

from kehu.access import service as access
from kehu.access.defaults import DEFAULT_ROLES
from kehu.customers import service as customers
from tests.fixtures.world import create_customer, customer_data

# one representative field per level, on the customer itself
FIELD = {1: "id_number", 2: "mobile", 3: "industry"}
_SEQ = itertools.count(1)
POSITIONS = ("own", "same_department", "other_department", "outside")


def in_scope(scope: str, position: str) -> bool:
    """Which customers a scope covers; the actor sits in 华东组 (under 销售部)."""
    return {"all": True, "department": position in ("own", "same_department"), "own": position == "own"}[scope]


def in_scope_head(position: str) -> bool:
    """部门负责人 of 销售部 sees 华东组 and 华北组 (own department and below), not 客服部."""
    return position != "outside"


def check(client, headers, no: str, *, visible: bool, grants: set, held) -> None:
    """Run every action at every level against one customer and compare to the oracle."""
    r = client.get(f"/api/v1/customers/{no}", headers=headers)
    if not visible:
        assert r.status_code == 404, r.text
        for path, method, body in (
            (f"/api/v1/customers/{no}/reveal", "post", {"fields": ["mobile"], "reason": "核对"}),
            (f"/api/v1/customers/{no}", "patch", {"industry": "x", "reason": "核对"}),
            (f"/api/v1/customers/{no}/history", "get", None),
        ):
            resp = client.request(method.upper(), path, json=body, headers=headers)
            assert resp.status_code == 404, (path, resp.text)
        return
    assert r.status_code == 200, r.text
    body = r.json()
    for level, name in FIELD.items():
        # view
        if ("view", level) in grants:
            assert name in body and name not in body["_hidden"], (level, body)
            if level == 1:
                assert name in body["_masked"]
        else:
            assert name not in body and name in body["_hidden"]
        # reveal
        resp = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": [name], "reason": "核对身份"},
                           headers=headers)
        allowed = ("view", level) in grants and ("reveal", level) in grants
        assert resp.status_code == (200 if allowed else 403), (level, "reveal", resp.text)
        # modify
        value = {1: None, 2: f"137{next(_SEQ):08d}", 3: "制造业"}[level]
        resp = client.patch(f"/api/v1/customers/{no}", json={name: value,
                                                             "reason": "资料更新"}, headers=headers)
        allowed = ("modify", level) in grants
        assert resp.status_code in ((200,) if allowed else (403,)), (level, "modify", resp.text)
    # delete (archive): needs delete at every level the archive holds
    r = client.request("DELETE", f"/api/v1/customers/{no}", json={"reason": "不再合作"}, headers=headers)
    allowed = all(("delete", lv) in grants for lv in held())
    assert r.status_code == (200 if allowed else 403), ("delete", r.text)


def held_levels(kehu, no: str, ctx) -> set[int]:
    with kehu.db.reader() as s:
        from kehu.customers.repository import get_by_no

        c = get_by_no(s, ctx.principal, no)
        cat = ctx.catalog
        return {cat.get("customer", f.name).level for f in cat.of("customer") if getattr(c, f.name) is not None}


def make_customers(kehu, world, actor_ctx):
    """One customer per scope position relative to an actor in 华东组."""
    info = world.ctx("info")
    owners = {"same_department": world.users["alan"], "other_department": world.users["bob"],
              "outside": world.users["carol"]}
    nos = {"own": create_customer(kehu, as_user=info, owner_id=actor_ctx.principal.user_id,
                                  department_id=actor_ctx.principal.department_id, industry="零售")}
    depts = {"same_department": "east", "other_department": "north", "outside": "service"}
    for pos, owner in owners.items():
        nos[pos] = create_customer(kehu, as_user=info, owner_id=owner, department_id=world.departments[depts[pos]],
                                   industry="零售")
    return nos


@pytest.mark.parametrize("role", sorted(DEFAULT_ROLES))
def test_default_role_matrix(kehu, world, client, api, role):
    actor = {"admin": "admin", "auditor": "auditor", "info_manager": "info", "dept_head": "head",
             "staff": "alice"}[role]
    spec = DEFAULT_ROLES[role]
    grants = {(a, lv) for a, lvs in spec["grants"].items() for lv in lvs}
    ctx = world.ctx(actor)
    nos = make_customers(kehu, world, world.ctx("alice") if role != "dept_head" else world.ctx("alice"))
    info = world.ctx("info")
    for pos in POSITIONS:
        if not any(a == "view" for a, _ in grants):
            visible = False
        elif role == "dept_head":
            visible = in_scope_head(pos)
        elif role == "staff":
            visible = pos == "own"  # alice owns "own"
        else:
            visible = in_scope(spec["scope"], pos)
        check(client, api(actor), nos[pos], visible=visible, grants=grants,
              held=lambda: held_levels(kehu, nos[pos], info))
    assert ctx.principal.role_code == role


ACTIONS = ("reveal", "modify", "delete")
SINGLE = list(itertools.product(("own", "department", "all"), ACTIONS, (1, 2, 3)))


@pytest.mark.parametrize("scope,action,level", SINGLE, ids=[f"{s}-{a}@{lv}" for s, a, lv in SINGLE])
def test_single_grant_matrix(kehu, world, client, scope, action, level):
    """A role with view at every level plus exactly one other grant can do exactly that."""
    admin = world.ctx("admin")
    code = f"r_{scope}_{action}{level}"
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code=code, name=code, scope=scope)
        s.flush()
        access.set_grants(s, admin, role_code=code, grants=[("view", 1), ("view", 2), ("view", 3), (action, level)])
        access.create_user(s, admin, username=f"u{code}", display_name=code, password=world.password,
                           role_code=code, department_id=world.departments["east"])
    token = client.post("/api/v1/auth/token", json={"username": f"u{code}", "password": world.password}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    actor = world.ctx(f"u{code}") if f"u{code}" in world.users else None
    from kehu.access.repository import user_by_name

    with kehu.db.reader() as s:
        user = user_by_name(s, f"u{code}")
        principal = access.build_principal(s, user)
    actor_ctx = type("C", (), {"principal": principal})()
    nos = make_customers(kehu, world, actor_ctx)
    info = world.ctx("info")
    grants = {("view", 1), ("view", 2), ("view", 3), (action, level)}
    for pos in POSITIONS:
        check(client, headers, nos[pos], visible=in_scope(scope, pos), grants=grants,
              held=lambda: held_levels(kehu, nos[pos], info))
    assert actor is None


@pytest.mark.parametrize("level", [1, 2, 3])
def test_create_needs_create_at_each_level_given(kehu, world, client, level):
    """Creating with a field of level L needs create@L (plus the levels of the required fields)."""
    admin = world.ctx("admin")
    with kehu.db.transaction() as s:
        access.create_role(s, admin, code="creator", name="creator", scope="own")
        s.flush()
        access.set_grants(s, admin, role_code="creator",
                          grants=[("view", lv) for lv in (1, 2, 3)] + [("create", 2), ("create", 3)])
        access.create_user(s, admin, username="creator", display_name="c", password=world.password,
                           role_code="creator", department_id=world.departments["east"])
    token = client.post("/api/v1/auth/token", json={"username": "creator", "password": world.password}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    data = customer_data()
    data.pop("id_number")
    r = client.post("/api/v1/customers", json=data, headers=headers)
    assert r.status_code == 201, r.text
    data = customer_data()  # includes id_number (level 1)
    r = client.post("/api/v1/customers", json=data, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_create"


def test_anonymous_gets_401_everywhere(client, world):
    for method, path in (("GET", "/api/v1/customers"), ("GET", "/api/v1/customers/KH20260000001"),
                         ("POST", "/api/v1/customers"), ("GET", "/api/v1/audit"), ("GET", "/api/v1/catalog"),
                         ("GET", "/api/v1/users"), ("GET", "/api/v1/roles")):
        r = client.request(method, path, json={} if method == "POST" else None)
        assert r.status_code in (401, 422) if method == "POST" else r.status_code == 401, (path, r.text)
    r = client.get("/api/v1/customers", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401


def test_revoked_right_denied_on_next_request(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    assert client.get(f"/api/v1/customers/{no}", headers=h).json()["mobile"]
    r = client.put("/api/v1/roles/staff/grants", headers=api("admin"),
                   json={"grants": ["view@1", "view@3", "create@1", "create@2", "create@3"]})
    assert r.status_code == 200, r.text
    body = client.get(f"/api/v1/customers/{no}", headers=h).json()
    assert "mobile" not in body and "mobile" in body["_hidden"]
    r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["mobile"], "reason": "核对"}, headers=h)
    assert r.status_code == 403


def test_deactivated_user_token_stops_working(kehu, world, client, api):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    h = api("alice")
    assert client.get("/api/v1/customers", headers=h).status_code == 200
    assert client.get(f"/api/v1/customers/{no}", headers=h).status_code == 200
    r = client.patch(f"/api/v1/users/{world.users['alice']}", json={"active": False}, headers=api("admin"))
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/customers", headers=h).status_code == 401
    assert client.get(f"/api/v1/customers/{no}", headers=h).status_code == 401  # the awaited read path too


def test_customers_service_rejects_principal_without_view(kehu, world):
    with kehu.db.transaction() as s:
        result = customers.list_(s, world.ctx("admin"))
    assert result["items"] == []


def test_importance_classes_limit_who_sees_a_customer(kehu, world, client, api):
    """SPEC §2: customer importance (普通/核心/重要) drives who may see a customer at all."""
    info = world.ctx("info")
    key = create_customer(kehu, as_user=info, owner_id=world.users["alice"], department_id=world.departments["east"],
                          importance="key", occupation="董事长", email="boss@corp.cn")
    normal = create_customer(kehu, as_user=info, owner_id=world.users["alice"],
                             department_id=world.departments["east"])
    h = api("alice")
    assert client.get(f"/api/v1/customers/{key}", headers=h).status_code == 200
    r = client.put("/api/v1/roles/staff/grants", headers=api("admin"), json={
        "grants": ["view@1", "view@2", "view@3", "create@1", "create@2", "create@3", "modify@2", "modify@3",
                   "reveal@2"], "importance": ["normal", "core"]})
    assert r.status_code == 200 and r.json()["importance"] == ["core", "normal"]
    assert client.get(f"/api/v1/customers/{key}", headers=h).status_code == 404
    listed = [i["archive_no"] for i in client.get("/api/v1/customers", headers=h).json()["items"]]
    assert normal in listed and key not in listed
    r = client.patch(f"/api/v1/customers/{normal}", json={"importance": "key", "occupation": "总经理",
                                                         "reason": "升级为重要客户"}, headers=h)
    assert r.status_code == 403  # cannot move a customer out of one's own visibility
    bad = client.put("/api/v1/roles/staff/grants", headers=api("admin"), json={"grants": [], "importance": ["vip"]})
    assert bad.status_code == 422
