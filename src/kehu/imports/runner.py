"""The import job runner: owns the transactions of a job (the services never commit).

Commit: the file is streamed; every chunk of rows is written in ONE transaction together with the
job's checkpoint (rows handled so far), so a run killed at any point (kill -9, power loss) leaves
whole chunks only, and the next run — found by the file's content hash — continues after the last
committed chunk: every row is imported exactly once. The importer's principal is resolved again for
every chunk, so a right revoked during a long import stops it at the next chunk.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from kehu.access import service as access
from kehu.access.models import User
from kehu.errors import Forbidden, KehuError
from kehu.imports import files, reading, service
from kehu.imports.models import ImportJob
from kehu.imports.rows import Row, Stream
from kehu.runtime import Ctx, Kehu

Opener = Callable[[], IO[bytes]]
CHUNK = 2000


def context(kehu: Kehu, session, user_id: str) -> Ctx:
    """The service context of a user, resolved now (as a request would be)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Forbidden("导入人账户不存在或已停用", code="user_inactive")
    epoch = kehu.epoch(session)
    return Ctx(kehu=kehu, principal=access.build_principal(session, user), catalog=kehu.catalog(session, epoch),
               epoch=epoch)


def opener(kehu: Kehu, job: ImportJob, path: Path | None = None) -> Opener:
    """How to read a job's file: the encrypted upload, or the file given on the command line."""
    if job.stored_path:
        dek = kehu.crypto.unwrap(job.dek, owner=files.owner(job.id))
        job_id, stored = job.id, Path(job.stored_path)
        return lambda: files.open_sealed(dek, job_id, stored)
    if path is None:
        raise KehuError("导入文件不可用，请重新上传", code="file_missing", status=409)
    return lambda: open(path, "rb")


def stream(job: ImportJob, open_bytes: Opener) -> Stream:
    """The row stream of a job's file, with the job's header and mapping."""
    header, columns = service.layout(job)
    return Stream(header, columns, strict_width=job.file_kind == "csv")


def source(job: ImportJob, open_bytes: Opener):
    """(row number, cells) of the data rows of a job's file."""
    return reading.data_rows(open_bytes, kind=job.file_kind, encoding=job.encoding, header_row=job.header_row)


def check(kehu: Kehu, *, user_id: str, job_id: str, open_bytes: Opener | None = None, path: Path | None = None,
          progress: Callable[[int], None] | None = None) -> dict:
    """Run the dry run of a job in one transaction; the plan."""
    with kehu.db.transaction() as s:
        ctx = context(kehu, s, user_id)
        job = service.get(s, ctx, job_id=job_id)
        open_bytes = open_bytes or opener(kehu, job, path)
        rows = stream(job, open_bytes).rows(source(job, open_bytes))
        return service.check(s, ctx, job_id=job_id, rows=rows, progress=progress)


def commit(kehu: Kehu, *, user_id: str, job_id: str, open_bytes: Opener | None = None, path: Path | None = None,
           chunk: int = CHUNK, progress: Callable[[int, int], None] | None = None) -> dict:
    """Import (or resume) a job chunk by chunk; `progress(done, created)` after every committed chunk.

    Returns the job's summary (service.summary)."""
    with kehu.db.reader() as s:
        ctx = context(kehu, s, user_id)
        job = service.get(s, ctx, job_id=job_id)
        if job.status == "done":
            return service.summary(job)
        open_bytes = open_bytes or opener(kehu, job, path)
        start = job.checkpoint
        rows = stream(job, open_bytes)
        src = source(job, open_bytes)
    first = start
    batch: list[Row] = []

    def flush() -> None:
        nonlocal first, batch
        with kehu.db.transaction() as s:
            ctx = context(kehu, s, user_id)
            res = service.commit_chunk(s, ctx, job_id=job_id, first=first, rows=batch,
                                       next_checkpoint=first + len(batch))
        first += len(batch)
        batch = []
        if progress:
            progress(first, res.created)

    try:
        for row in rows.rows(src, skip=start):
            batch.append(row)
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
        with kehu.db.transaction() as s:
            return service.summary(service.finish(s, context(kehu, s, user_id), job_id=job_id, total=rows.count))
    except KehuError as exc:
        with kehu.db.transaction() as s:
            service.mark_failed(s, context(kehu, s, user_id), job_id=job_id, error=f"{exc.code}: {exc.message}")
        raise
