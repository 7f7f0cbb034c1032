"""Browser tests of the web UI: one headless chromium per session, one real uvicorn server per test.

The server serves `create_app(kehu)` over the per-test store of `tests/conftest.py` (SQLite and
PostgreSQL) from a background thread on 127.0.0.1 and a free port.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kehu.access import service as access
from kehu.web.session import SESSION_COOKIE

CHROMIUM = os.environ.get("KEHU_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the whole session (Debian's, no downloaded browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


class Server:
    """uvicorn serving the app in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("web server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(kehu, world) -> Iterator[Server]:
    """The app of this test's store, served over HTTP."""
    from kehu.app import create_app

    with Server(create_app(kehu)) as srv:
        yield srv


@pytest.fixture
def context(browser, server):
    """A fresh browser profile (cookies) at laptop size, in Chinese."""
    ctx = browser.new_context(base_url=server.url, viewport=VIEWPORT, locale="zh-CN")
    ctx.set_default_timeout(8000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A page of the fresh profile; script errors (a CSP violation, a failing handler) fail the test."""
    errors: list[str] = []
    pg = context.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
          and not msg.text.startswith("Failed to load resource") else None)  # 4xx answers are expected
    yield pg
    assert errors == []


@pytest.fixture
def other_page(browser, server):
    """A page in a second, separate profile (another user at the same time)."""
    ctx = browser.new_context(base_url=server.url, viewport=VIEWPORT, locale="zh-CN")
    ctx.set_default_timeout(8000)
    yield ctx.new_page()
    ctx.close()


@pytest.fixture
def login(kehu, world, server):
    """`login(page, "alice")` opens a web session and lands on the user's first page.

    With `form=True` (or a password) it goes through the login form; otherwise the session is
    issued by the same `access.login(kind="web")` and set as the cookie (the form has its own tests).
    """
    def go(page, username: str, password: str | None = None, *, form: bool = False) -> None:
        if form or password is not None:
            page.goto("/login")
            page.get_by_label("用户名").fill(username)
            page.get_by_label("密码").fill(password or world.password)
            with page.expect_navigation():
                page.get_by_role("button", name="登录").click()
            return
        from kehu.web.auth import landing

        with kehu.db.transaction() as s:
            result = access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1",
                                  kind="web")
            first = landing(access.build_principal(s, result.user)) or "/"
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": result.token, "url": server.url,
                                   "httpOnly": True, "sameSite": "Strict"}])
        page.goto(first)  # where the login form lands (the home page "/" shows 今日待办)

    return go


@pytest.fixture
def shot():
    """`shot(page, "name")` saves docs/screenshots/name.png (the viewport, 1366×768) when KEHU_SCREENSHOTS=1."""
    def go(page, name: str, *, full_page: bool = False) -> None:
        if os.environ.get("KEHU_SCREENSHOTS", "0") != "1":  # opt-in: a test run leaves the tree clean
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return go


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => !el.labels || el.labels.length === 0).map(el => el.name || el.id || el.outerHTML)"""


def assert_labelled(page) -> None:
    """Every visible form control of the page has a <label>."""
    assert page.evaluate(UNLABELLED) == []


def normalise(html: str) -> str:
    """Page text without the per-session CSRF token (to compare two pages)."""
    return re.sub(r'(name="csrf" value=|X-CSRF-Token": )"[^"]*"', r'\1""', html)
