"""JSON API of `kehu.consent`: an archive's consent (read, grant, withdraw) and the purposes / privacy notices."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter
from pydantic import Field

from kehu.consent import service
from kehu.customers.api import Api
from kehu.schemas import ConsentInput, Strict

router = APIRouter(tags=["consent 告知同意"])


class WithdrawRequest(Strict):
    """What the customer withdraws: listed purposes, the sensitive consent, or everything (`all`)."""

    purposes: list[str] = Field(default_factory=list, max_length=20)
    sensitive: bool = False
    all: bool = False
    reason: str = Field(max_length=500)


class PurposeRequest(Strict):
    """A purpose of processing (code, name, description, active)."""

    code: str = Field(max_length=30)
    name: str = Field(max_length=60)
    description: Optional[str] = Field(default=None, max_length=500)
    active: bool = True


class NoticeRequest(Strict):
    """A new version of the privacy notice."""

    version: str = Field(max_length=20)
    title: str = Field(max_length=100)
    text: str = Field(max_length=20000)


@router.get("/api/v1/customers/{archive_no}/consent")
def consent_of(call: Api, archive_no: str) -> dict:
    """The archive's consent state per purpose and its history of grants and withdrawals."""
    return call.run("consent.read", lambda s, ctx: service.overview(s, ctx, archive_no=archive_no), target=archive_no)


@router.post("/api/v1/customers/{archive_no}/consent", status_code=201)
def grant(call: Api, archive_no: str, payload: ConsentInput) -> dict:
    """Record a further consent of the customer (a purpose, the separate sensitive consent, a guardian's)."""
    return call.run("consent.grant", lambda s, ctx: service.grant(
        s, ctx, archive_no=archive_no, consent=payload.model_dump(exclude_unset=True)), target=archive_no)


@router.post("/api/v1/customers/{archive_no}/consent/withdraw")
def withdraw(call: Api, archive_no: str, payload: WithdrawRequest) -> dict:
    """Record a withdrawal; it takes effect immediately (`allows`, reveal of level-1 values)."""
    return call.run("consent.withdraw", lambda s, ctx: service.withdraw(
        s, ctx, archive_no=archive_no, purposes=None if payload.all else payload.purposes,
        sensitive=payload.sensitive, reason=payload.reason), target=archive_no)


@router.get("/api/v1/consent/purposes")
def purposes(call: Api) -> list[dict]:
    """Every purpose of processing."""
    return call.run("consent.purposes", lambda s, ctx: service.purposes(s, ctx))


@router.post("/api/v1/consent/purposes")
def save_purpose(call: Api, payload: PurposeRequest) -> dict:
    """Add or change a purpose (needs `manage_consent`)."""
    return call.run("consent.purpose", lambda s, ctx: service.save_purpose(s, ctx, **payload.model_dump()))


@router.get("/api/v1/consent/notices")
def notices(call: Api) -> list[dict]:
    """Published versions of the privacy notice, newest first."""
    return call.run("consent.notices", lambda s, ctx: service.notices(s, ctx))


@router.post("/api/v1/consent/notices", status_code=201)
def publish(call: Api, payload: NoticeRequest) -> dict:
    """Publish a new privacy-notice version (needs `manage_consent`)."""
    return call.run("consent.notice", lambda s, ctx: service.publish_notice(s, ctx, **payload.model_dump()))


def install(_kehu) -> None:
    """Start-up: every export for a purpose that needs consent (marketing) asks `kehu.consent.allows`."""
    from kehu.consent import allows
    from kehu.exports import hooks

    hooks.set_consent_check(allows)
