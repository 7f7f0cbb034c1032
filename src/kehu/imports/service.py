"""Import jobs: start (or resume) a job for a file, dry run, commit one chunk, saved mappings, purge.

Every row goes through the archive's own checks: new archives through `customers.bulk` (the checks of
`customers.service.create`), changes of existing archives through `customers.service.update` itself,
with the reason "批量导入 <file>". The importer's rights apply. Like every service this never commits:
the runner (`kehu.imports.runner`) commits each chunk together with the job's checkpoint.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.consent import basis as consent_basis
from kehu.customers import bulk
from kehu.db import utcnow
from kehu.errors import Conflict, FieldError, KehuError, NotFound, ValidationFailed
from kehu.imports import files, mapping, reading, upsert
from kehu.imports.basis import Basis, consent_of, on_birth_date, row_consent
from kehu.imports.upsert import reason_of
from kehu.imports.models import ON_EXISTING, ImportIssue, ImportJob, ImportMapping
from kehu.imports.rows import Row
from kehu.kit.ids import new_id
from kehu.runtime import Ctx

#: How long a finished job keeps its report and rejects (then purged with its key and files).
KEEP = timedelta(days=7)
Opener = Callable[[], IO[bytes]]


def layout(job: ImportJob) -> tuple[list[str], dict[int, str]]:
    """(header, column index → target) of a job."""
    data = json.loads(job.mapping)
    return data["header"], {int(k): v for k, v in data["columns"].items()}


def _own_job(session: Session, ctx: Ctx, job_id: str, *, for_update: bool = False) -> ImportJob:
    stmt = select(ImportJob).where(ImportJob.id == job_id, ImportJob.user_id == ctx.principal.user_id,
                                   ImportJob.status != "purged")
    job = session.execute(stmt.with_for_update() if for_update else stmt).scalar_one_or_none()
    if job is None:
        raise NotFound()
    return job


def require_importer(ctx: Ctx) -> None:
    """Users who may not create archives have no imports at all (404, as for a page that does not exist)."""
    if not ctx.principal.sees_customers or not any(a == "create" for a, _ in ctx.principal.grants):
        raise NotFound()  # no import page exists for a user who may not create archives


def check_columns(session: Session, ctx: Ctx, columns: dict[int, str], basis: Basis) -> None:
    """The declaration must be complete; the mapping must name the customer; level-1 columns need the right and
    the declared explicit consent, guardian columns the declared guardian consent."""
    errors = basis.check(session)
    if "customer.name" not in columns.values():
        errors.append(FieldError("mapping", "name_unmapped", "未找到“姓名/名称”列，请在映射中指定"))
    specs = [ctx.catalog.get(*t.split(".", 1)) for t in columns.values() if t != mapping.ARCHIVE_NO]
    level1 = [s for s in specs if s.level == 1]
    if level1 and not basis.sensitive_consent:
        errors.append(FieldError("basis.sensitive_consent", "sensitive_consent_required",
                                 "文件包含一级（敏感）信息列：" + "、".join(s.label for s in level1)
                                 + "；须声明已取得个人的单独同意，否则请取消这些列的映射"))
    guardian = [s for s in specs if s.entity == "consent"]
    if guardian and not basis.guardian_consent:
        errors.append(FieldError("basis.guardian_consent", "guardian_consent_required",
                                 "文件包含监护人列：" + "、".join(s.label for s in guardian)
                                 + "；须声明已取得未成年人监护人的同意，否则请取消这些列的映射"))
    if errors:
        raise ValidationFailed(errors)
    policy.require_fields(ctx.principal, "create", specs)


def targets_for(ctx: Ctx) -> dict[str, str]:
    """The targets this user may map columns to (fields they may create), with their labels."""
    out = {}
    for target, label in mapping.targets(ctx.catalog).items():
        if target == mapping.ARCHIVE_NO or policy.may(ctx.principal, "create", ctx.catalog.get(*target.split(".", 1))):
            out[target] = label
    return out


def saved_mapping(session: Session, ctx: Ctx, name: str) -> dict[str, str]:
    """A saved mapping visible to the user (their own, or one shared with their department)."""
    rows = session.execute(select(ImportMapping).where(ImportMapping.name == name)).scalars().all()
    mine = [m for m in rows if m.owner_id == ctx.principal.user_id]
    shared = [m for m in rows if m.department_id and m.department_id == ctx.principal.department_id]
    found = (mine or shared or [None])[0]
    if found is None:
        raise NotFound(f"未找到名为“{name}”的映射")
    return json.loads(found.columns)


def list_mappings(session: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """Saved mappings the user may use: name, shared or not, columns."""
    rows = session.execute(select(ImportMapping).order_by(ImportMapping.name)).scalars().all()
    return [{"name": m.name, "mine": m.owner_id == ctx.principal.user_id, "shared": bool(m.department_id),
             "columns": json.loads(m.columns)} for m in rows
            if m.owner_id == ctx.principal.user_id or (m.department_id and m.department_id == ctx.principal.department_id)]


def save_mapping(session: Session, ctx: Ctx, *, name: str, columns: dict[str, str], shared: bool = False) -> None:
    """Create or replace the user's mapping `name` (header text → target; "" ignores the column)."""
    require_importer(ctx)
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValidationFailed([FieldError("name", "required", "请填写映射名称（不超过60个字符）")])
    valid = targets_for(ctx)
    bad = sorted({t for t in columns.values() if t and t not in valid})
    if bad:
        raise ValidationFailed([FieldError("columns", "unknown_target", "无效或无权填写的字段：" + "、".join(bad))])
    row = session.execute(select(ImportMapping).where(ImportMapping.owner_id == ctx.principal.user_id,
                                                      ImportMapping.name == name)).scalar_one_or_none()
    if row is None:
        row = ImportMapping(id=new_id(), name=name, owner_id=ctx.principal.user_id)
        session.add(row)
    row.columns = json.dumps({k: v for k, v in columns.items() if v}, ensure_ascii=False)
    row.department_id = ctx.principal.department_id if shared else None
    row.updated_at = utcnow()
    ctx.audit(session, action="import.mapping.save", target_type="import_mapping", target_id=row.id,
              detail={"name": name, "shared": shared})


def find_job(session: Session, ctx: Ctx, *, file_hash: str) -> ImportJob | None:
    """The user's latest job for a file with this content (resume or "already imported")."""
    return session.execute(select(ImportJob).where(ImportJob.user_id == ctx.principal.user_id,
                                                   ImportJob.file_hash == file_hash, ImportJob.status != "purged")
                           .order_by(ImportJob.created_at.desc()).limit(1)).scalar_one_or_none()


def start(session: Session, ctx: Ctx, *, file_name: str, open_bytes: Opener, file_hash: str, basis: Basis,
          columns: dict[int, str] | None = None, mapping_name: str | None = None, on_existing: str = "reject",
          store_in: Path | None = None, again: bool = False) -> tuple[ImportJob, bool]:
    """A job for this file: the unfinished one with the same content (resumed: True), or a new one.

    A file already imported completely is refused unless `again` (a second run then creates no
    duplicates: its rows meet the exact-duplicate check or update their archives). `store_in`: keep
    the file, encrypted with the job's key, in this directory (web uploads).
    """
    require_importer(ctx)
    existing = find_job(session, ctx, file_hash=file_hash)
    if existing is not None and existing.status not in ("done",):
        return existing, True
    if existing is not None and not again:
        raise Conflict(f"该文件已于{existing.finished_at:%Y-%m-%d %H:%M}（UTC）导入完毕（任务 {existing.id}）",
                       code="already_imported", detail={"job_id": existing.id})
    if on_existing not in ON_EXISTING:
        raise ValidationFailed([FieldError("on_existing", "invalid_choice", "可选值：reject、fill、overwrite")])
    table = reading.open_table(open_bytes, name=file_name, score=mapping.score(ctx.catalog))
    if columns is None:  # a recognised column the user may not fill is refused by name, never silently dropped
        if mapping_name:
            columns = mapping.apply_saved(table.header, saved_mapping(session, ctx, mapping_name),
                                          mapping.targets(ctx.catalog))
        else:
            columns = mapping.auto(ctx.catalog, table.header)
    columns = {int(i): t for i, t in columns.items() if t}
    bad = [t for t in columns.values() if t not in mapping.targets(ctx.catalog)]
    if bad or len(set(columns.values())) != len(columns) or any(i >= len(table.header) or i < 0 for i in columns):
        raise ValidationFailed([FieldError("mapping", "mapping_invalid", "列映射无效（字段未知、重复或列不存在）")])
    check_columns(session, ctx, columns, basis)
    job_id = new_id()
    dek, wrapped = ctx.kehu.crypto.new_data_key(owner=files.owner(job_id))
    stored = None
    if store_in is not None:
        stored = store_in / f"{job_id}.enc"
        with open_bytes() as src:
            files.seal_file(ctx.kehu.crypto, dek, job_id, src, stored)
    now = utcnow()
    job = ImportJob(id=job_id, user_id=ctx.principal.user_id, department_id=ctx.principal.department_id,
                    file_name=os.path.basename(file_name)[:200] or "import", file_hash=file_hash,
                    file_kind=table.kind, encoding=table.encoding, stored_path=str(stored) if stored else None,
                    dek=wrapped, status="uploaded", mapping_name=mapping_name, on_existing=on_existing,
                    mapping=json.dumps({"header": table.header, "columns": columns}, ensure_ascii=False),
                    header_row=table.header_row, checkpoint=0, created=0, updated=0, unchanged=0, rejected=0,
                    basis_purpose=(basis.purpose or "").strip(), basis_purposes=",".join(basis.purposes),
                    basis_scope=basis.scope.strip(), basis_channel=basis.channel,
                    basis_notice_version=basis.notice_version.strip(), basis_sensitive_consent=basis.sensitive_consent,
                    basis_guardian_consent=basis.guardian_consent, basis_note=basis.note, created_at=now, updated_at=now, expires_at=now + KEEP)
    session.add(job)
    ctx.audit(session, action="import.start", target_type="import_job", target_id=job_id,
              fields=sorted({t if "." in t else "customer.archive_no" for t in columns.values()}),
              detail={"file": job.file_name, "kind": table.kind, "on_existing": on_existing, "basis": asdict(basis)})
    return job, False


def set_columns(session: Session, ctx: Ctx, *, job_id: str, columns: dict[int, str], on_existing: str | None = None,
                sensitive_consent: bool | None = None, guardian_consent: bool | None = None) -> ImportJob:
    """Edit the mapping of a job not yet committing (the dry run must then be repeated)."""
    job = _own_job(session, ctx, job_id, for_update=True)
    if job.status not in ("uploaded", "checked"):
        raise Conflict("导入已开始，不能再修改映射", code="import_started")
    header, _old = layout(job)
    columns = {int(i): t for i, t in columns.items() if t}
    valid = mapping.targets(ctx.catalog)
    if any(t not in valid for t in columns.values()) or len(set(columns.values())) != len(columns) \
            or any(i >= len(header) or i < 0 for i in columns):
        raise ValidationFailed([FieldError("mapping", "mapping_invalid", "列映射无效（字段未知、重复或列不存在）")])
    if on_existing is not None:
        if on_existing not in ON_EXISTING:
            raise ValidationFailed([FieldError("on_existing", "invalid_choice", "可选值：reject、fill、overwrite")])
        job.on_existing = on_existing
    if sensitive_consent is not None:
        job.basis_sensitive_consent = sensitive_consent
    if guardian_consent is not None:
        job.basis_guardian_consent = guardian_consent
    check_columns(session, ctx, columns, Basis.of(job))
    job.mapping = json.dumps({"header": header, "columns": columns}, ensure_ascii=False)
    job.status, job.plan, job.updated_at = "uploaded", None, utcnow()
    session.execute(delete(ImportIssue).where(ImportIssue.job_id == job.id))
    ctx.audit(session, action="import.mapping", target_type="import_job", target_id=job.id,
              detail={"columns": len(columns), "on_existing": job.on_existing})
    return job


@dataclass
class ChunkResult:
    """What one chunk did (or in a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    issues: list[tuple[Row, list[FieldError]]] = None  # type: ignore[assignment]
    fields: dict[str, dict[str, int]] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.issues, self.fields = [], {}


def create_input(row: Row, consent: consent_basis.Basis) -> dict[str, Any]:
    """The body of a new archive from a row (source channel 批量导入 unless the file says otherwise), its consent."""
    row.data.setdefault("source_channel", "import")
    return {**row.data, "consent": consent}


def process(session: Session, ctx: Ctx, job: ImportJob, rows: list[Row], *, dry_run: bool,
            creator: bulk.Bulk | None = None, prepared: tuple[list, list] | None = None) -> ChunkResult:
    """Check and (unless `dry_run`) write one chunk of rows: updates of matched archives, then new archives.

    `prepared`: the new archives were already checked and sealed by worker processes (kehu.imports.parallel)."""
    res = ChunkResult()
    consent = consent_of(session, ctx, job, layout(job)[1].values())
    live = [r for r in rows if not r.empty]
    for r in live:
        if r.errors:
            res.issues.append((r, list(r.errors)))
    live = [r for r in live if not r.errors]
    matches = upsert.match(session, ctx, [r for r in live if r.archive_no or job.on_existing != "reject"])
    matchable = [r for r in live if r.archive_no or job.on_existing != "reject"]
    creates: list[Row] = []
    for n, r in enumerate(matchable):
        hits = matches.get(n, [])
        if not hits and not r.archive_no:
            creates.append(r)
            continue
        error = upsert.hit_error(ctx, hits, r)
        if error:
            res.issues.append((r, [error]))
            continue
        outcome, kinds, errors = upsert.update(session, ctx, job, r, hits[0], dry_run=dry_run,
                                               consent=row_consent(consent, r, guardian_declared=job.basis_guardian_consent))
        if errors:
            res.issues.append((r, on_birth_date(job, errors)))
            continue
        setattr(res, outcome, getattr(res, outcome) + 1)
        for name, kind in kinds.items():
            res.fields.setdefault(name, {"filled": 0, "overwritten": 0})[kind] += 1
    creates += [r for r in live if not (r.archive_no or job.on_existing != "reject")]
    if creates:
        if creator is None:
            creator = bulk.Bulk(session, ctx, reason_of(job), source=consent.source)
        creator.where = lambda no: f"文件第{no}行"
        creator.result = bulk.BulkResult()
        if prepared is not None:
            creator.submit_prepared(*prepared)
        else:
            guardian = job.basis_guardian_consent
            creator.submit([(r.no, create_input(r, row_consent(consent, r, guardian_declared=guardian)))
                            for r in creates], dry_run=dry_run)
        result = creator.result
        if not dry_run:
            creator.audit()
        by_no = {r.no: r for r in creates}
        by_row: dict[int, list[FieldError]] = {}
        for e in result.errors:
            by_row.setdefault(e.row, []).append(FieldError(e.field, e.code, e.message))  # type: ignore[arg-type]
        for no, errors in by_row.items():
            res.issues.append((by_no[no], on_birth_date(job, errors)))
        res.created += result.created
    res.rejected = len(res.issues)
    res.issues.sort(key=lambda item: item[0].no)
    return res


def record_issues(session: Session, ctx: Ctx, job: ImportJob, issues: list[tuple[Row, list[FieldError]]], *,
                  phase: str) -> None:
    """Store each problem row (errors without values; a rejected row's cells sealed with the job's key)."""
    if not issues:
        return
    dek = ctx.kehu.crypto.unwrap(job.dek, owner=files.owner(job.id)) if phase == "commit" else None
    rows = []
    for row, errors in issues:
        cells = None
        if dek is not None:
            cells = ctx.kehu.crypto.encrypt(dek, json.dumps(row.cells, ensure_ascii=False), table="import_issues",
                                            field=phase, row_id=f"{job.id}:{row.no}")
        rows.append({"job_id": job.id, "phase": phase, "row_no": row.no, "cells": cells,
                     "errors": json.dumps([[e.field, e.code, e.message] for e in errors], ensure_ascii=False)})
    session.execute(ImportIssue.__table__.insert(), rows)


def commit_chunk(session: Session, ctx: Ctx, *, job_id: str, first: int, rows: list[Row], next_checkpoint: int,
                 total: int | None = None, prepared: tuple[list, list] | None = None) -> ChunkResult:
    """Write one chunk and move the job's checkpoint in the same transaction (exactly once on resume)."""
    job = _own_job(session, ctx, job_id, for_update=True)
    if job.status in ("done", "purged"):
        raise Conflict("该导入任务已结束", code="import_finished")
    if job.checkpoint != first:
        raise Conflict("导入进度已被另一进程推进，请重新运行以从断点继续", code="checkpoint_moved")
    if prepared is not None and job.on_existing != "reject":
        raise Conflict("按标识更新的导入不使用并行检查", code="parallel_upsert")
    res = process(session, ctx, job, rows, dry_run=False, prepared=prepared)
    record_issues(session, ctx, job, res.issues, phase="commit")
    job.status = "running"
    job.checkpoint = next_checkpoint
    job.created += res.created
    job.updated += res.updated
    job.unchanged += res.unchanged
    job.rejected += res.rejected
    job.updated_at = utcnow()
    job.expires_at = job.updated_at + KEEP  # an interrupted job stays resumable for KEEP after its last chunk
    if total is not None:
        job.total_rows = total
    return res


def finish(session: Session, ctx: Ctx, *, job_id: str, total: int) -> ImportJob:
    """Mark a job done once every row is handled; its report and rejects stay until it expires."""
    job = _own_job(session, ctx, job_id, for_update=True)
    if job.checkpoint != total:
        raise Conflict("导入尚未完成", code="import_incomplete")
    if job.status != "done":
        now = utcnow()
        job.status, job.total_rows, job.finished_at, job.updated_at, job.expires_at = "done", total, now, now, now + KEEP
        ctx.audit(session, action="import.commit", target_type="import_job", target_id=job.id,
                  reason=reason_of(job), detail={"created": job.created, "updated": job.updated,
                                                  "unchanged": job.unchanged, "rejected": job.rejected,
                                                  "rows": total})
    return job


def mark_failed(session: Session, ctx: Ctx, *, job_id: str, error: str) -> None:
    """Record why a run stopped (the job stays resumable from its checkpoint)."""
    job = _own_job(session, ctx, job_id, for_update=True)
    if job.status != "done":
        job.status, job.error, job.updated_at = "failed", error[:500], utcnow()


def summary(job: ImportJob) -> dict[str, Any]:
    """A job as plain data (state, counts, checkpoint, declared legal basis)."""
    return {"id": job.id, "file_name": job.file_name, "status": job.status, "kind": job.file_kind,
            "encoding": job.encoding, "rows": job.total_rows, "checkpoint": job.checkpoint, "created": job.created,
            "updated": job.updated, "unchanged": job.unchanged, "rejected": job.rejected,
            "on_existing": job.on_existing, "error": job.error, "plan": json.loads(job.plan) if job.plan else None,
            "basis": asdict(Basis.of(job)), "created_at": job.created_at, "finished_at": job.finished_at,
            "expires_at": job.expires_at}


def upload_refused(code: str) -> KehuError:
    """The error of an upload the web page does not take (too large / no file)."""
    if code == "file_too_large":
        return KehuError("文件过大或为空（网页上传上限 64 MB，更大的文件请用命令行 kehu import 导入）", code=code, status=413)
    return ValidationFailed([FieldError("file", "required", "请选择文件")])


def ready_to_commit(job: ImportJob) -> None:
    """A job is committed only after its dry run was seen (or to resume a started one)."""
    if job.status not in ("checked", "running", "failed"):
        raise Conflict("请先试运行并确认结果", code="check_first")


def get(session: Session, ctx: Ctx, *, job_id: str) -> ImportJob:
    """One of the user's jobs."""
    return _own_job(session, ctx, job_id)


def list_jobs(session: Session, ctx: Ctx, *, limit: int = 50) -> list[ImportJob]:
    """The user's jobs, newest first."""
    require_importer(ctx)
    return list(session.execute(select(ImportJob).where(ImportJob.user_id == ctx.principal.user_id,
                                                        ImportJob.status != "purged")
                                .order_by(ImportJob.created_at.desc()).limit(limit)).scalars())


def purge(session: Session, kehu: Any, *, now=None, job_id: str | None = None, ctx: Ctx | None = None) -> int:
    """Delete expired jobs' problem rows, stored files and keys (the job row stays as a trace); how many."""
    now = now or utcnow()
    stmt = select(ImportJob).where(ImportJob.status != "purged")
    stmt = stmt.where(ImportJob.id == job_id) if job_id else stmt.where(ImportJob.expires_at < now)
    jobs = list(session.execute(stmt).scalars())
    for job in jobs:
        session.execute(delete(ImportIssue).where(ImportIssue.job_id == job.id))
        if job.stored_path:
            Path(job.stored_path).unlink(missing_ok=True)
        job.status, job.stored_path, job.dek, job.plan = "purged", None, b"", None
        job.mapping = json.dumps({"header": [], "columns": {}})
        if ctx is not None:  # ended by its user
            ctx.audit(session, action="import.purge", target_type="import_job", target_id=job.id)
        else:  # expired
            kehu.audit.stage(session, action="import.purge", actor_name="system", target_type="import_job",
                             target_id=job.id, detail={"expired": True})
    return len(jobs)


def check(session: Session, ctx: Ctx, *, job_id: str, rows, chunk: int = 2000,
          progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Dry run: every row checked exactly as the commit would (nothing written); the plan and report are kept."""
    from kehu.customers import likely

    job = _own_job(session, ctx, job_id, for_update=True)
    if job.status not in ("uploaded", "checked"):
        raise Conflict("导入已开始，不能再试运行", code="import_started")
    session.execute(delete(ImportIssue).where(ImportIssue.job_id == job.id))
    creator = bulk.Bulk(session, ctx, reason_of(job), source=f"import:{job.id}")
    plan: dict[str, Any] = {"rows": 0, "empty": 0, "create": 0, "update": 0, "unchanged": 0, "reject": 0,
                            "likely": 0, "fields": {}, "on_existing": job.on_existing}
    batch: list[Row] = []

    def run(batch: list[Row]) -> None:
        res = process(session, ctx, job, batch, dry_run=True, creator=creator)
        bad = {r.no for r, _e in res.issues}
        probes = {r.no: p for r in batch if not r.empty and r.no not in bad
                  for p in [likely.probe_of(ctx, r.data)] if p is not None}
        found = likely.find_many(session, ctx, probes) if probes else {}
        warnings = [(r, [FieldError(None, "likely_duplicate", "可能与已有档案重复：" + "；".join(  # type: ignore[arg-type]
            f"{c['archive_no']}（{'、'.join(c['reasons'])}）" for c in found[r.no][:3]))]) for r in batch if r.no in found]
        record_issues(session, ctx, job, res.issues + warnings, phase="check")
        plan["rows"] += len(batch)
        plan["empty"] += sum(1 for r in batch if r.empty)
        plan["create"] += res.created
        plan["update"] += res.updated
        plan["unchanged"] += res.unchanged
        plan["reject"] += res.rejected
        plan["likely"] += len(warnings)
        for name, kinds in res.fields.items():
            into = plan["fields"].setdefault(name, {"filled": 0, "overwritten": 0})
            for k, v in kinds.items():
                into[k] += v
        if progress:
            progress(len(batch))

    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            run(batch)
            batch = []
    if batch:
        run(batch)
    ctx.kehu.audit.take_staged(session)  # the updates tried in savepoints were undone: so are their entries
    job.plan = json.dumps(plan, ensure_ascii=False)
    job.status, job.total_rows, job.updated_at = "checked", plan["rows"], utcnow()
    ctx.audit(session, action="import.check", target_type="import_job", target_id=job.id,
              detail={k: v for k, v in plan.items() if k != "fields"})
    return plan
