"""JSON API of `kehu.tags`: catalogue, rule lifecycle, dry run, quality, customer tags and grades, segments."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kehu.customers.api import Api
from kehu.edge import body
from kehu.exports.api import file_response
from kehu.runtime import Kehu
from kehu.tags import quality, quality_snapshot, segments, service
from kehu.tags.realtime import install as install_realtime
from kehu.tags.schemas import (DryRun, ManualTag, ReviewOutcome, RuleDraft, SampleRequest, SegmentExport, SegmentSave,
                               Settings, TagCreate)

router = APIRouter(prefix="/api/v1", tags=["tags 标签与分级"])


def install(kehu: Kehu) -> None:
    """Start-up hook: real-time tag evaluation after committed customer and transaction events; the scheduled
    full evaluation (`kehu.tags.schedule`, when `KEHU_TAG_SCHEDULE` is on)."""
    from kehu.tags import schedule

    install_realtime(kehu)
    kehu.tag_schedule = schedule.install(kehu)


@router.get("/tags")
def list_tags(call: Api) -> list[dict]:
    """The tag catalogue with holder counts."""
    return call.run("tag.list", lambda s, ctx: service.list_tags(s, ctx))


@router.post("/tags", status_code=201)
def create_tag(call: Api, payload: TagCreate) -> dict:
    """A new tag (manual, or rule-based with a first draft); `manage_tags`."""
    return call.run("tag.create", lambda s, ctx: service.create_tag(s, ctx, data=body(payload)))


@router.get("/tags/settings")
def get_settings(call: Api) -> dict:
    """Rule parameters, grade ranking settings, the last full evaluation."""
    return call.run("tag.settings_read", lambda s, ctx: service.settings_view(s, ctx))


@router.put("/tags/settings")
def put_settings(call: Api, payload: Settings) -> dict:
    """Change rule parameters and ranking rules; `manage_tags`."""
    return call.run("tag.settings", lambda s, ctx: service.put_settings(s, ctx, data=body(payload)))


@router.get("/tags/quality")
def get_quality(call: Api) -> dict:
    """Coverage, change rate, error rate, usage and contradictions per tag; `manage_tags` or `review_tags`.

    Holders, coverage, change rate, contradictions and group conflicts are the stored figures of `snapshot`
    (when and how they were computed; null before the first full evaluation or check), `notice` says why they
    may be out of date; reviews, error rate and usage are live."""
    return call.run("tag.quality", lambda s, ctx: quality.dashboard(s, ctx))


@router.post("/tags/quality/check")
def check_quality(call: Api) -> dict:
    """Count the quality figures now and store them (立即检查; tens of seconds on a large store): the new snapshot
    with its time; `manage_tags` or `review_tags`; 409 `check_running` while another check runs."""
    figures = call.run("tag.quality_check", quality_snapshot.measure_check, write=False)  # off the write lock
    return call.run("tag.quality_check", lambda s, ctx: quality_snapshot.save_check(s, ctx, figures=figures))


@router.get("/tags/{code}")
def get_tag(call: Api, code: str) -> dict:
    """One tag with its rule versions."""
    return call.run("tag.read", lambda s, ctx: service.get_tag(s, ctx, code=code), target=code)


@router.post("/tags/{code}/versions", status_code=201)
def save_draft(call: Api, code: str, payload: RuleDraft) -> dict:
    """A new draft version; 422 with line, column and message when the rule is invalid."""
    return call.run("tag.draft", lambda s, ctx: service.save_draft(s, ctx, code=code, expression=payload.expression,
                                                                   note=payload.note), target=code)


@router.post("/tags/{code}/versions/{version}/{step}")
def lifecycle(call: Api, code: str, version: int, step: str) -> dict:
    """`review` (review_tags, not the author), `activate` (manage_tags, reviewed only), `retire`."""
    fn = {"review": service.review, "activate": service.activate, "retire": service.retire}.get(step)
    if fn is None:
        from kehu.errors import NotFound
        raise NotFound()
    return call.run(f"tag.{step}", lambda s, ctx: fn(s, ctx, code=code, version=version), target=code)


@router.post("/tags/{code}/dry-run")
def dry_run(call: Api, code: str, payload: DryRun) -> dict:
    """How many and which customers (in scope) a rule would tag, and the difference to the active version."""
    return call.run("tag.dry_run", lambda s, ctx: service.dry_run(s, ctx, code=code, expression=payload.expression,
                                                                  version=payload.version), target=code)


@router.post("/tags/{code}/samples", status_code=201)
def sample(call: Api, code: str, payload: SampleRequest) -> list[dict]:
    """Draw holders for a manual quality check; `review_tags`."""
    return call.run("tag.sample", lambda s, ctx: quality.sample(s, ctx, code=code, size=payload.size), target=code)


@router.post("/tag-reviews/{review_id}")
def record_review(call: Api, review_id: str, payload: ReviewOutcome) -> dict:
    """Record whether a sampled tag was correct."""
    return call.run("tag.review_sample", lambda s, ctx: quality.record(s, ctx, review_id=review_id,
                                                                       correct=payload.correct, note=payload.note))


@router.get("/customers/{archive_no}/tags")
def customer_tags(call: Api, archive_no: str) -> dict:
    """A customer's tags, grade, stars and tag history."""
    return call.run("tag.customer", lambda s, ctx: service.customer_tags(s, ctx, archive_no=archive_no),
                    target=archive_no)


@router.post("/customers/{archive_no}/tags/{code}")
def set_manual(call: Api, archive_no: str, code: str, payload: ManualTag) -> dict:
    """Give (`on`) or take a manual tag with a reason."""
    return call.run("tag.manual", lambda s, ctx: service.set_manual(s, ctx, archive_no=archive_no, code=code,
                                                                    on=payload.on, reason=payload.reason),
                    target=archive_no)


@router.get("/customers/{archive_no}/grade")
def explain_grade(call: Api, archive_no: str) -> dict:
    """Grade, stars and RFM with the reasons ("why is this customer A?")."""
    return call.run("tag.explain", lambda s, ctx: service.explain_grade(s, ctx, archive_no=archive_no),
                    target=archive_no)


@router.get("/segments")
def list_segments(call: Api) -> list[dict]:
    """The caller's segments."""
    return call.run("segment.list", lambda s, ctx: segments.list_(s, ctx))


@router.post("/segments", status_code=201)
def create_segment(call: Api, payload: SegmentSave) -> dict:
    """Save a filter (rule language: tags, grade, fields, aggregates)."""
    return call.run("segment.save", lambda s, ctx: segments.save(s, ctx, data=body(payload)))


@router.put("/segments/{segment_id}")
def update_segment(call: Api, segment_id: str, payload: SegmentSave) -> dict:
    """Change a segment."""
    return call.run("segment.save", lambda s, ctx: segments.save(s, ctx, data=body(payload), segment_id=segment_id))


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(call: Api, segment_id: str) -> Response:
    """Delete one of the caller's segments (another user's: 404)."""
    call.run("segment.delete", lambda s, ctx: segments.delete(s, ctx, segment_id=segment_id))
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members")
def members(call: Api, segment_id: str, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """Count and members in the caller's scope."""
    return call.run("segment.members", lambda s, ctx: segments.members(s, ctx, segment_id=segment_id, limit=limit))


@router.post("/segments/{segment_id}/export", responses={200: {"description": "CSV 或 Excel 文件"}})
def export(call: Api, segment_id: str, payload: SegmentExport) -> Response:
    """The segment's members as a CSV/Excel export (`kehu.exports`): for marketing only customers with consent;
    the file's last line and `GET /api/v1/exports/{id}` say how many were left out."""
    return file_response(call.run("segment.export", lambda s, ctx: segments.export(
        s, ctx, segment_id=segment_id, purpose=payload.purpose, use=payload.use, fmt=payload.format,
        fields=payload.fields)))
