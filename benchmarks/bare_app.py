"""The baseline of the detail-endpoint bench: a bare FastAPI app returning a captured customer JSON.

Same framework, server and route shape as GET /api/v1/customers/{no}, none of Kehu's work
(authentication, scope query, decryption, masking, audit commit). Run by bench_foundation.py as
`uvicorn bare_app:app` with BARE_JSON pointing at the captured body.

Two endpoints: the sync one (FastAPI runs it in its worker thread pool) is the baseline the target of
issue 2 was set against; Kehu's detail endpoint is `async def` since it awaits its read, so the bench
also reports the async one, which saves the thread hand-off Kehu's endpoint no longer makes.
"""
from __future__ import annotations

import json
import os

from fastapi import FastAPI

BODY = json.loads(open(os.environ["BARE_JSON"], encoding="utf-8").read())
app = FastAPI()


@app.get("/api/v1/customers/{archive_no}")
def get_customer(archive_no: str) -> dict:
    """The captured body, whatever the number (a sync endpoint, like Kehu's)."""
    return BODY


@app.get("/async/api/v1/customers/{archive_no}")
async def get_customer_async(archive_no: str) -> dict:
    """The captured body from an `async def` endpoint (no worker thread, like Kehu's awaited read)."""
    return BODY


@app.get("/healthz")
def healthz() -> dict:
    """Liveness."""
    return {"ok": True}
