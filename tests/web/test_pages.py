"""Web pages answer in HTML, the API keeps its JSON; headers of HTML pages (no browser needed)."""
from __future__ import annotations


def test_unknown_web_path_is_an_html_404(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "未找到" in r.text


def test_api_errors_stay_json(client):
    r = client.get("/api/v1/no-such-endpoint")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/api/v1/customers/KH20260000001")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    r = client.put("/api/v1/customers")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_pages_need_a_session(client):
    r = client.get("/customers", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fcustomers")
    r = client.get("/", follow_redirects=False)
    assert r.headers["location"] == "/login"


def test_login_page_headers(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_static_files_are_cacheable(client):
    r = client.get("/static/vendor/htmx.min.js")
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]


def test_bad_query_parameters_get_an_html_page(client):
    r = client.get("/audit?before=not-a-number")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html") and "请求参数无效" in r.text
