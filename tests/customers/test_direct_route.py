"""GET /api/v1/customers/{no} runs through DirectRoute: the same answers as FastAPI's own handler."""
from __future__ import annotations

from pydantic_core import to_json
from sqlalchemy import select

from kehu import edge
from kehu.audit.models import AuditEntry
from kehu.edge import DirectRoute, _direct_shape
from tests.fixtures.world import customer_data


def _detail_route(app):
    [route] = [r for r in app.router.routes if getattr(r, "path", "") == "/api/v1/customers/{archive_no}"
               and "GET" in r.methods]
    return route


def _full_handler(client):
    """Force FastAPI's own handler (DirectRoute yields to it while dependency overrides are set)."""
    client.app.dependency_overrides[object()] = lambda: None


def test_the_detail_route_takes_the_direct_handler(client):
    route = _detail_route(client.app)
    assert isinstance(route, DirectRoute) and _direct_shape(route.dependant, route)
    assert route._direct is not None and route.app.__qualname__ == "DirectRoute.__init__.<locals>.app"  # no frame


def test_the_detail_route_is_the_apps_own_ahead_of_the_included_routers(client):
    """Matched once per request by the app's router (a route of an included router is matched twice)."""
    routes = client.app.router.routes
    first_included = next(i for i, r in enumerate(routes) if not hasattr(r, "path"))
    assert routes.index(_detail_route(client.app)) < first_included
    operation = client.app.openapi()["paths"]["/api/v1/customers/{archive_no}"]["get"]
    assert operation["operationId"] == "get_customer_api_v1_customers__archive_no__get"
    assert operation["tags"] == ["customers 客户档案"] and operation["security"] == [{"HTTPBearer": []}]


def test_same_bytes_status_and_headers_as_fastapis_handler(kehu, client, api, monkeypatch):
    r = client.post("/api/v1/customers", json=customer_data(), headers=api("alice"))
    no = r.json()["archive_no"]
    rendered: list[bytes] = []
    monkeypatch.setattr(edge, "to_json", lambda value: rendered.append(to_json(value)) or rendered[-1])
    direct = client.get(f"/api/v1/customers/{no}", headers=api("alice"))
    assert rendered == [direct.content]  # the direct handler answered
    missing = client.get("/api/v1/customers/KH20990000001", headers=api("alice"))
    anonymous = client.get(f"/api/v1/customers/{no}")
    bad_token = client.get(f"/api/v1/customers/{no}", headers={"Authorization": "Bearer nope"})
    _full_handler(client)
    try:
        full = client.get(f"/api/v1/customers/{no}", headers=api("alice"))
        assert len(rendered) == 1  # FastAPI's handler answered
        assert (missing.status_code, missing.content) == (404, client.get(
            "/api/v1/customers/KH20990000001", headers=api("alice")).content)
        assert (anonymous.status_code, anonymous.content) == (401, client.get(f"/api/v1/customers/{no}").content)
        assert bad_token.content == client.get(f"/api/v1/customers/{no}",
                                               headers={"Authorization": "Bearer nope"}).content
    finally:
        client.app.dependency_overrides.clear()
    assert direct.status_code == full.status_code == 200
    assert direct.json()["version"] == full.json()["version"]
    assert direct.content == full.content  # pydantic-core renders the dict as FastAPI does
    for name in ("content-type", "cache-control", "x-content-type-options", "content-length"):
        assert direct.headers[name] == full.headers[name], name
    assert direct.headers["cache-control"] == "no-store"


def test_reads_refusals_and_404_are_still_audited(kehu, client, api, world):
    r = client.post("/api/v1/customers", json=customer_data(), headers=api("alice"))
    no = r.json()["archive_no"]
    assert client.get(f"/api/v1/customers/{no}", headers=api("alice")).status_code == 200
    assert client.get("/api/v1/customers/KH20990000001", headers=api("alice")).status_code == 404
    with kehu.db.reader() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.outcome, AuditEntry.customer_no, AuditEntry.fields)
                         .where(AuditEntry.action == "customer.read").order_by(AuditEntry.seq)).all()
    assert rows[-2][:3] == ("customer.read", "ok", no) and rows[-2][3]
    assert rows[-1][:2] == ("customer.read", "denied")


def test_other_shapes_keep_fastapis_handler():
    from kehu.customers.api import history  # query parameters: not direct

    route = DirectRoute("/x/{archive_no}", history, methods=["GET"])
    assert not _direct_shape(route.dependant, route)


def test_a_revoked_token_is_refused_on_the_very_next_detail_read(client, world):
    r = client.post("/api/v1/auth/token", json={"username": "alice", "password": world.password})
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    no = client.post("/api/v1/customers", json=customer_data(), headers=h).json()["archive_no"]
    assert client.get(f"/api/v1/customers/{no}", headers=h).status_code == 200  # token and principal now cached
    assert client.delete("/api/v1/auth/token", headers=h).status_code == 200
    assert client.get(f"/api/v1/customers/{no}", headers=h).status_code == 401
