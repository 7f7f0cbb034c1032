"""Files over HTTP for the import pages and the API: an upload read in memory, a report or rejects file sent.

The upload is parsed in memory — the multipart parser never spools it to a plaintext temporary file —
and kept only sealed with the job's key (`imports.files`); bigger files go through `kehu import`.
"""
from __future__ import annotations

import io
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from kehu.errors import FieldError, ValidationFailed
from kehu.imports import service

#: Largest upload taken over HTTP (bytes); the CLI has no limit.
MAX_UPLOAD = 64 * 1024 * 1024


async def receive(request: Request) -> tuple[FormData, str | None, bytes | None]:
    """(form fields, file name, file bytes) of a multipart upload; no file part → (form, None, None).

    A body without a length or over MAX_UPLOAD is refused before it is read (413)."""
    try:
        size = int(request.headers.get("content-length") or 0)
    except ValueError:
        size = 0
    if not 0 < size <= MAX_UPLOAD:
        raise service.upload_refused("file_too_large")
    parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=20)
    parser.spool_max_size = MAX_UPLOAD + 1  # kept in memory: never a plaintext temporary file
    try:
        form = await parser.parse()
    except (MultiPartException, KeyError):  # not multipart, no boundary, malformed
        raise ValidationFailed([FieldError("file", "upload_invalid", "请以 multipart/form-data 格式上传文件")])
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return form, None, None
    data = await upload.read()
    await upload.close()
    return form, upload.filename or "import.csv", data


def in_memory(data: bytes) -> io.BytesIO:
    """A fresh in-memory file over uploaded bytes."""
    return io.BytesIO(data)


def download(name: str, data: bytes) -> Response:
    """A report or rejects file as an attachment: never rendered inline, never sniffed, not cached."""
    media = "text/csv; charset=utf-8" if name.endswith(".csv") else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"import.{name.rsplit('.', 1)[-1]}\"; "
                               f"filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
