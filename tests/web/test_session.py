"""Login, logout, session cookie, expiry, lock-out and CSRF — in a real browser."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from kehu.access.models import Token
from kehu.audit.models import AuditEntry
from kehu.db import utcnow
from tests.fixtures.world import create_customer

pytestmark = pytest.mark.e2e


def test_login_and_logout(page, context, login, shot):
    page.goto("/")
    expect(page).to_have_url("/login")
    expect(page.get_by_role("heading", name="登录客户信息管理系统")).to_be_visible()
    shot(page, "login")
    login(page, "alice", form=True)
    expect(page).to_have_url("/customers")
    cookie = next(c for c in context.cookies() if c["name"] == "kehu_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_text("您已安全退出")).to_be_visible()
    page.goto("/customers")
    expect(page).to_have_url("/login?next=%2Fcustomers")


def test_wrong_password_then_lock_out_each_failure_audited(kehu, world, page, login):
    for _ in range(kehu.settings.lockout_threshold):
        login(page, "bob", "wrong-password-1")
        expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    expect(page.get_by_label("用户名")).to_have_value("bob")  # the form comes back filled
    login(page, "bob", form=True)  # the right password no longer helps
    expect(page.get_by_role("alert")).to_contain_text("账户已被锁定")
    with kehu.db.reader() as s:
        outcomes = s.execute(select(AuditEntry.outcome).where(AuditEntry.action == "auth.login",
                                                              AuditEntry.actor_name == "bob")).scalars().all()
    assert outcomes.count("failed") == kehu.settings.lockout_threshold and outcomes[-1] == "denied"


def test_expired_session_goes_back_to_login(kehu, world, page, login):
    login(page, "alice")
    with kehu.db.transaction() as s:  # the session's time is up (cached policy dropped with the epoch)
        s.execute(update(Token).values(expires_at=utcnow() - timedelta(minutes=1)))
        kehu.bump_epoch(s)
    page.goto("/customers")
    expect(page.get_by_text("会话已过期，请重新登录")).to_be_visible()
    login(page, "alice", form=True)
    expect(page).to_have_url("/customers")


def test_post_without_csrf_token_is_refused(kehu, world, page, login):
    no = create_customer(kehu, as_user=world.ctx("alice"))
    login(page, "alice")
    page.goto(f"/customers/{no}/edit")
    form = {"kind": "individual", "name": "篡改", "reason": "没有令牌的请求"}
    for extra in ({}, {"csrf": "forged-token"}):
        r = page.request.post(f"/customers/{no}/edit", form={**form, **extra}, max_redirects=0)
        assert r.status == 403 and "CSRF" in r.text()
    page.goto(f"/customers/{no}")
    expect(page.locator("h1")).not_to_contain_text("篡改")
    with kehu.db.reader() as s:
        denied = s.execute(select(AuditEntry.detail).where(AuditEntry.action == "customer.update")).scalars().all()
    assert len(denied) == 2 and all("csrf_failed" in d for d in denied)
