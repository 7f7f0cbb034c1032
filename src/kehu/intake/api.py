"""JSON API of `kehu.intake`: submissions by other systems (own token), the review queue, channel registration."""
from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field

from kehu.customers.api import Api
from kehu.edge import bearer, client_ip
from kehu.errors import Unauthenticated
from kehu.intake import service
from kehu.schemas import ConsentInput, Scalar, Strict

router = APIRouter(prefix="/api/v1/intake", tags=["intake 信息收集与审核"])


class SubmissionRequest(Strict):
    """Customer fields (within the system's scope) and the consent the customer gave."""

    data: dict[str, Scalar] = Field(max_length=80)
    consent: Optional[ConsentInput] = None


class ChannelRequest(Strict):
    """A public form or another system: fields it may send, purposes offered, review required."""

    kind: str = Field(pattern="^(form|system)$")
    code: str = Field(max_length=40)
    name: str = Field(max_length=60)
    fields: list[str] = Field(max_length=80)
    purposes: list[str] = Field(max_length=20)
    needs_review: bool = True
    source_channel: Optional[str] = Field(default=None, max_length=20)
    owner_id: Optional[str] = Field(default=None, max_length=32)


class DecisionRequest(Strict):
    """Approve (with optional corrections) or reject (reason required)."""

    decision: str = Field(pattern="^(approve|reject)$")
    corrections: dict[str, Scalar] = Field(default_factory=dict, max_length=80)
    reason: Optional[str] = Field(default=None, max_length=500)


@router.post("/submissions", status_code=202)
def submit(request: Request, payload: SubmissionRequest, response: Response,
           credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(bearer)]) -> dict:
    """Submit a record as a registered system (`Authorization: Bearer <system token>`): 202 queued for review,
    201 filed at once when the system needs no review; 401 bad token; 422 out-of-scope or invalid fields."""
    kehu = request.app.state.kehu
    token = credentials.credentials if credentials else None
    consent = payload.consent.model_dump(exclude_unset=True) if payload.consent else None
    try:
        with kehu.db.transaction() as session:
            result = service.submit_system(session, kehu, token=token, data=payload.data, consent_input=consent,
                                           ip=client_ip(request))
    except Unauthenticated:
        with kehu.db.transaction() as session:  # a refused token is evidence (guessing): its own transaction
            kehu.audit.stage(session, action="intake.submit", outcome="denied", actor_name="system:?",
                             ip=client_ip(request), detail={"code": "invalid_token"})
        raise
    if result["status"] == "approved":
        response.status_code = 201
    return result


@router.get("/submissions")
def queue(call: Api, status: str = "pending") -> list[dict]:
    """The review queue (needs `review_intake`)."""
    return call.run("intake.queue", lambda s, ctx: service.queue(s, ctx, status=status))


@router.get("/submissions/{submission_id}")
def get(call: Api, submission_id: str) -> dict:
    """One submission with its consent and the duplicates found among existing archives."""
    return call.run("intake.read", lambda s, ctx: service.get(s, ctx, submission_id=submission_id),
                    target=submission_id)


@router.post("/submissions/{submission_id}/decision")
def decide(call: Api, submission_id: str, payload: DecisionRequest) -> dict:
    """Approve (→ archive, corrections recorded) or reject with a reason."""
    def go(s, ctx) -> dict[str, Any]:
        if payload.decision == "approve":
            return service.approve(s, ctx, submission_id=submission_id, corrections=payload.corrections,
                                   note=payload.reason)
        return service.reject(s, ctx, submission_id=submission_id, reason=payload.reason)
    return call.run("intake.decide", go, target=submission_id)


@router.get("/channels")
def channels(call: Api) -> list[dict]:
    """Registered channels (needs `manage_intake`)."""
    return call.run("intake.channels", lambda s, ctx: service.channels(s, ctx))


@router.post("/channels", status_code=201)
def register(call: Api, payload: ChannelRequest) -> dict:
    """Register a channel; a system's token is in this answer only (stored hashed)."""
    return call.run("intake.channel.register", lambda s, ctx: service.register(s, ctx, **payload.model_dump()))
