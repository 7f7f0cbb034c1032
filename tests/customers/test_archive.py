"""The customer archive: numbers, kinds, search, history, children, duplicates, minors, concurrency."""
from __future__ import annotations

import re
from datetime import date

import pytest

from tests.fixtures.world import create_customer, customer_data, id_number, role_user


@pytest.fixture
def viewer(kehu, world):
    """A role that may view levels 2 and 3 in its department but reveal nothing."""
    return role_user(kehu, world, code="viewer", scope="department", grants=[("view", 2), ("view", 3)],
                     username="viewer", department="east")


def _create(client, h, **kw):
    r = client.post("/api/v1/customers", json=customer_data(**kw), headers=h)
    assert r.status_code == 201, r.text
    return r.json()["archive_no"]


def test_archive_numbers_unique_and_never_reused(kehu, client, api):
    h = api("info")
    nos = [_create(client, h) for _ in range(3)]
    assert len(set(nos)) == 3 and all(re.fullmatch(r"KH\d{4}\d{7}", n) for n in nos)
    year = str(date.today().year)
    assert all(n[2:6] == year for n in nos)
    client.request("DELETE", f"/api/v1/customers/{nos[-1]}", json={"reason": "测试归档"}, headers=h)
    new = _create(client, h)
    assert new not in nos and int(new[-7:]) == int(nos[-1][-7:]) + 1


def test_organisation_with_contacts_and_addresses(client, api, viewer):
    h = api("alice")
    data = customer_data(kind="organisation", uscc="91110000600037341L", importance="key",
                         occupation="采购总监", email="buy@corp.cn")
    data["contacts"] = [{"name": "王经理", "title": "采购经理", "mobile": "13800138000", "is_primary": "yes"}]
    data["addresses"] = [{"label": "收货地址", "province": "上海市", "city": "上海市", "street": "浦东大道1号"}]
    r = client.post("/api/v1/customers", json=data, headers=h)
    assert r.status_code == 201, r.text
    body = client.get(f"/api/v1/customers/{r.json()['archive_no']}", headers=h).json()
    assert body["uscc"] == "91110000600037341L"
    assert body["contacts"][0]["title"] == "采购经理" and body["contacts"][0]["mobile"] == "13800138000"
    assert body["addresses"][0]["street"] == "浦东大道1号"  # staff holds reveal@2: level-2 values plain
    masked = client.get(f"/api/v1/customers/{r.json()['archive_no']}", headers=api("viewer")).json()
    assert masked["contacts"][0]["mobile"] == "138****8000" and masked["addresses"][0]["street"] == "浦东大****"
    assert "id_number" in masked["_hidden"] and "uscc" in masked  # view@3 only for public data


def test_preferences_anniversaries_relations(client, api):
    h = api("alice")
    data = customer_data(room_preference="高层无烟房", dining_habits="素食", allergies="花生过敏", special_needs="轮椅")
    data["anniversaries"] = [{"kind": "wedding", "day": "2015-10-01", "note": "结婚十周年"}]
    data["relations"] = [{"kind": "assistant", "name": "赵助理", "mobile": "13700137000"}]
    no = client.post("/api/v1/customers", json=data, headers=h).json()["archive_no"]
    body = client.get(f"/api/v1/customers/{no}", headers=h).json()
    assert body["room_preference"] == "高层无烟房" and body["allergies"] == "******"  # health: level 1
    assert body["anniversaries"][0]["day"] == "2015-10-01" and body["relations"][0]["name"] == "赵助理"
    rel = body["relations"][0]["id"]
    r = client.patch(f"/api/v1/customers/{no}/relations/{rel}", params={"reason": "换人"},
                     json={"name": "钱助理"}, headers=h)
    assert r.status_code == 200, r.text
    r = client.delete(f"/api/v1/customers/{no}/anniversaries/{body['anniversaries'][0]['id']}",
                      params={"reason": "客户要求删除"}, headers=h)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_delete"  # staff holds no delete grant
    r = client.delete(f"/api/v1/customers/{no}/anniversaries/{body['anniversaries'][0]['id']}",
                      params={"reason": "客户要求删除"}, headers=api("info"))
    assert r.status_code == 200, r.text
    hist = client.get(f"/api/v1/customers/{no}/history", headers=h).json()["items"]
    assert any(i["entity"] == "relation" and i["op"] == "update" and i["reason"] == "换人" for i in hist)
    assert any(i["entity"] == "anniversary" and i["op"] == "delete" for i in hist)


@pytest.mark.parametrize("query", ["zs", "zhangsan", "张三", "ZhangSan"])
def test_search_by_name_and_pinyin(client, api, query):
    h = api("alice")
    no = _create(client, h, name="张三")
    _create(client, h, name="李四")
    items = client.get("/api/v1/customers", params={"q": query}, headers=h).json()["items"]
    assert [i["archive_no"] for i in items] == [no]


def test_search_exact_identifiers_through_blind_index(client, api):
    h = api("alice")
    data = customer_data()
    no = _create(client, h, **{k: data[k] for k in ("mobile", "id_number", "email")})
    for q in (data["mobile"], data["id_number"], data["email"].upper(), no):
        items = client.get("/api/v1/customers", params={"q": q}, headers=h).json()["items"]
        assert [i["archive_no"] for i in items] == [no], q
    assert client.get("/api/v1/customers", params={"q": "13000000000"}, headers=h).json()["items"] == []


def test_search_never_crosses_scope(client, api):
    data = customer_data()
    _create(client, api("alice"), **{"mobile": data["mobile"]})
    assert client.get("/api/v1/customers", params={"q": data["mobile"]}, headers=api("bob")).json()["items"] == []


def test_keyset_pagination_and_sort(client, api):
    h = api("alice")
    nos = [_create(client, h, name=n) for n in ("王五", "阿九", "赵六", "钱七", "孙八")]
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/customers", params={"limit": 2, "cursor": cursor, "sort": "name"},
                          headers=h).json()
        seen += [i["name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen[0].startswith("阿") and seen[-1].startswith("赵")
    newest = client.get("/api/v1/customers", params={"limit": 1}, headers=h).json()["items"][0]
    assert newest["archive_no"] == nos[-1]
    r = client.get("/api/v1/customers", params={"cursor": "garbage!"}, headers=h)
    assert r.status_code == 422


def test_exact_duplicates_blocked_with_link(client, api):
    h = api("alice")
    data = customer_data()
    no = _create(client, h, **{k: data[k] for k in ("mobile", "id_number")})
    r = client.post("/api/v1/customers", json=customer_data(mobile=data["mobile"]), headers=h)
    assert r.status_code == 409 and r.json()["archive_no"] == no and r.json()["field"] == "mobile"
    # someone who cannot see the existing archive learns only that it exists, not which
    r = client.post("/api/v1/customers", json=customer_data(id_number=data["id_number"]), headers=api("bob"))
    assert r.status_code == 409 and r.json()["archive_no"] is None


def test_minor_personal_data_is_level_one(client, api, kehu, world):
    """A customer under 14 has their personal data treated as level 1 (masked, needs reveal@1)."""
    today = date.today()
    born = date(today.year - 10, 1, 1)
    no = create_customer(kehu, as_user=world.ctx("alice"), id_number=id_number(9, born=born),
                         birth_date=born.isoformat())
    body = client.get(f"/api/v1/customers/{no}", headers=api("alice")).json()
    assert body["minor"] is True and "name" in body["_masked"] and "mobile" in body["_masked"]
    r = client.post(f"/api/v1/customers/{no}/reveal", json={"fields": ["mobile"], "reason": "联系监护人"},
                    headers=api("alice"))
    assert r.status_code == 403  # staff has reveal@2 but not reveal@1


def test_optimistic_version_conflict(client, api):
    h = api("alice")
    no = _create(client, h)
    v = client.get(f"/api/v1/customers/{no}", headers=h).json()["version"]
    assert client.patch(f"/api/v1/customers/{no}", json={"industry": "A", "reason": "一次", "version": v},
                        headers=h).status_code == 200
    r = client.patch(f"/api/v1/customers/{no}", json={"industry": "B", "reason": "二次", "version": v}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "version_conflict"


def test_history_masks_per_viewer(client, api):
    h = api("info")
    no = _create(client, h)
    client.patch(f"/api/v1/customers/{no}", json={"bank_account": "6222020200112233445", "reason": "新开户"},
                 headers=h)
    items = client.get(f"/api/v1/customers/{no}/history", headers=h).json()["items"]
    bank = next(i for i in items if i["field"] == "bank_account")
    assert bank["new_value"] == "****3445" and bank["reason"] == "新开户" and bank["changed_by"] == "Info"


def test_owner_cannot_be_assigned_outside_scope(client, api, world):
    r = client.post("/api/v1/customers", json=customer_data(owner_id=world.users["bob"]), headers=api("alice"))
    assert r.status_code == 403 and r.json()["code"] == "owner_out_of_scope"
    r = client.post("/api/v1/customers", json=customer_data(owner_id="nobody"), headers=api("alice"))
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "owner_not_found"


def test_kind_cannot_change(client, api):
    h = api("alice")
    no = _create(client, h)
    r = client.patch(f"/api/v1/customers/{no}", json={"kind": "organisation", "reason": "改类型"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"


def test_creation_is_one_history_row_then_every_change(client, api):
    """The initial values are the archive itself; the history starts with one creation row."""
    h = api("alice")
    no = client.post("/api/v1/customers", json={**customer_data(), "reason": "展会名片录入"}, headers=h).json()["archive_no"]
    items = client.get(f"/api/v1/customers/{no}/history", headers=h).json()["items"]
    assert [(i["op"], i["label"], i["reason"]) for i in items] == [("create", "建立档案", "展会名片录入")]
    client.patch(f"/api/v1/customers/{no}", json={"industry": "物流", "reason": "核实"}, headers=h)
    items = client.get(f"/api/v1/customers/{no}/history", headers=h).json()["items"]
    assert [(i["field"], i["op"]) for i in items] == [("industry", "update"), ("_archive", "create")]


@pytest.mark.parametrize("sort", ["new", "name", "updated"])
def test_department_scope_pages_merge_departments(kehu, world, client, api, sort):
    """A department head's list merges one keyset query per department (and their own customers)."""
    info = world.ctx("info")
    mine = set()
    for owner, dept in (("alice", "east"), ("alan", "east"), ("bob", "north"), ("head", "sales"),
                        ("bob", "north"), ("alice", "east")):
        mine.add(create_customer(kehu, as_user=info, owner_id=world.users[owner],
                                 department_id=world.departments[dept]))
    outside = create_customer(kehu, as_user=info, owner_id=world.users["carol"],
                              department_id=world.departments["service"])
    seen, cursor = [], None
    for _ in range(10):
        page = client.get("/api/v1/customers", params={"limit": 2, "cursor": cursor, "sort": sort},
                          headers=api("head")).json()
        seen += [i["archive_no"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and set(seen) == mine and outside not in seen
    if sort == "new":
        assert seen == sorted(seen, reverse=True)  # archive numbers follow creation order
