"""The import job runner: owns the transactions of a job (the services never commit).

Commit: the file is streamed; every chunk of rows is written in ONE transaction together with the
job's checkpoint (rows handled so far), so a run killed at any point (kill -9, power loss) leaves
whole chunks only, and the next run — found by the file's content hash — continues after the last
committed chunk: every row is imported exactly once. The importer's principal is resolved again for
every chunk, so a right revoked during a long import stops it at the next chunk.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from kehu.access import service as access
from kehu.access.models import User
from kehu.errors import Conflict, Forbidden, KehuError
from kehu.imports import basis, files, reading, service
from kehu.imports.models import ImportJob
from kehu.imports.rows import Row, Stream
from kehu.runtime import Ctx, Kehu

Opener = Callable[[], IO[bytes]]
CHUNK = 2000
_running: dict[str, threading.Thread] = {}  # job id → the server thread committing it (web page and API)
_lock = threading.Lock()


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
           chunk: int = CHUNK, progress: Callable[[int, int], None] | None = None, workers: int = 0) -> dict:
    """Import (or resume) a job chunk by chunk; `progress(done, created)` after every committed chunk.

    `workers` > 0: new archives are checked and sealed in that many processes (kehu.imports.parallel)
    while this process writes; only for jobs that do not update existing archives. Returns the job's
    summary (service.summary)."""
    with kehu.db.reader() as s:
        ctx = context(kehu, s, user_id)
        job = service.get(s, ctx, job_id=job_id)
        if job.status == "done":
            return service.summary(job)
        open_bytes = open_bytes or opener(kehu, job, path)
        start = job.checkpoint
        rows = stream(job, open_bytes)
        src = source(job, open_bytes)
        pool = None
        if workers > 0 and job.on_existing == "reject":
            from kehu.imports.parallel import Workers

            consent = basis.consent_of(s, ctx, job, service.layout(job)[1].values())
            pool = Workers(kehu, ctx.catalog, s, workers)
            principal, epoch, reason = ctx.principal, ctx.epoch, service.reason_of(job)
            guardian = job.basis_guardian_consent
    if pool is not None:
        try:
            return _commit_parallel(kehu, user_id, job_id, pool, rows, src, start, chunk, progress,
                                    principal, epoch, reason,
                                    lambda r: basis.row_consent(consent, r, guardian_declared=guardian))
        finally:
            pool.close()
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


def _commit_parallel(kehu: Kehu, user_id: str, job_id: str, pool, rows: Stream, src, start: int, chunk: int,
                     progress, principal, epoch: int, reason: str, consent_of: Callable[[Row], object]) -> dict:
    """The commit loop with checks and sealing in worker processes; chunks are written in file order.

    `consent_of(row)`: the consent each new archive is checked against (in the worker) and recorded with."""
    from kehu.errors import Conflict

    def write(tag, result) -> None:
        first, batch = tag
        with kehu.db.transaction() as s:
            ctx = context(kehu, s, user_id)
            if ctx.epoch != epoch:  # rights or catalogue changed since the workers' snapshot
                raise Conflict("权限或字段分类已变更，请重新运行以按新的权限继续导入", code="rights_changed")
            res = service.commit_chunk(s, ctx, job_id=job_id, first=first, rows=batch,
                                       next_checkpoint=first + len(batch), prepared=result)
        if progress:
            progress(first + len(batch), res.created)

    def send(first: int, batch: list[Row]) -> None:
        creates = [(r.no, service.create_input(r, consent_of(r))) for r in batch
                   if not r.empty and not r.errors and not r.archive_no]
        pool.submit((first, batch), principal, reason, creates)
        while pool.full():
            write(*pool.take())

    try:
        first, batch = start, []
        for row in rows.rows(src, skip=start):
            batch.append(row)
            if len(batch) >= chunk:
                send(first, batch)
                first, batch = first + len(batch), []
        if batch:
            send(first, batch)
        while pool.window:
            write(*pool.take())
        with kehu.db.transaction() as s:
            return service.summary(service.finish(s, context(kehu, s, user_id), job_id=job_id, total=rows.count))
    except KehuError as exc:
        with kehu.db.transaction() as s:
            service.mark_failed(s, context(kehu, s, user_id), job_id=job_id, error=f"{exc.code}: {exc.message}")
        raise


def in_background(kehu: Kehu, *, user_id: str, job_id: str) -> None:
    """Start (or resume) a job's commit in a thread of this server process, unless one is already running it.

    The job's state (checkpoint, counts, status, error) is what callers watch; after a server stop the
    commit is resumed from the checkpoint by calling this again."""
    with _lock:
        if not running(job_id):
            thread = threading.Thread(target=_commit_quietly, args=(kehu, user_id, job_id), daemon=True,
                                      name=f"import-{job_id[-6:]}")
            _running[job_id] = thread
            thread.start()


def running(job_id: str) -> bool:
    """Whether a thread of this process is committing the job now."""
    thread = _running.get(job_id)
    return thread is not None and thread.is_alive()


def end(session, ctx: Ctx, job_id: str) -> None:
    """End one of the caller's jobs now (file, report rows and key deleted) — never while it is being committed:
    the commit would lose its file half-way (409 `import_running`; once it finishes or fails, it can end)."""
    service.get(session, ctx, job_id=job_id)
    if running(job_id):
        raise Conflict("导入正在进行，请等待完成（或中断）后再结束此任务", code="import_running")
    service.purge(session, ctx.kehu, job_id=job_id, ctx=ctx)


def _commit_quietly(kehu: Kehu, user_id: str, job_id: str) -> None:
    try:
        commit(kehu, user_id=user_id, job_id=job_id)
    except Exception:  # recorded on the job by `commit` (KehuError) or logged; the job's state shows it
        logging.getLogger("kehu").exception("import %s stopped", job_id)
