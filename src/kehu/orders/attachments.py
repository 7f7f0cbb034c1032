"""Attachments of orders/contracts (合同附件): type allow-list by content, size limit, encrypted files.

The file type is detected from the content's magic bytes (`filetype`), never from the name: PDF,
images, Office documents and plain UTF-8 text are accepted; executables, HTML, SVG and anything
unrecognised are refused. The content is sealed with the customer's data key (AES-256-GCM, AAD bound to
the attachment id) and written under `$KEHU_VAR_DIR/attachments/`; nothing is ever stored in plain.
Reading needs the order in scope and the attachment's fields visible in plain; every upload, download
and delete is audited. No HTTP; never commits (files are removed only once the delete has committed).
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import filetype
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from kehu.access import policy
from kehu.catalog.presenter import present
from kehu.customers.service import minor_of, vault_of
from kehu.errors import FieldError, NotFound, ValidationFailed
from kehu.interactions.service import require_create
from kehu.kit.ids import new_id
from kehu.orders.models import OrderAttachment
from kehu.orders.service import load
from kehu.runtime import Ctx
from kehu.security import aead
from kehu.security.crypto import DEK_ID, Crypto

TABLE = "order_attachments"
#: content types accepted (as detected from the bytes)
ALLOWED = {
    "application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation", "text/plain",
}
ALLOWED_HELP = "PDF、图片（JPG/PNG/GIF/WebP/BMP/TIFF）、Office 文档（Word/Excel/PowerPoint/ODF）或纯文本"
#: markup that a browser could run even when the bytes are "text": refused as text/plain
MARKUP = re.compile(rb"^\s*(<\?xml|<!doctype|<html|<svg|<script|<head|<body|<iframe)", re.I)
FIELDS = ("filename", "content_type", "size_bytes")


def detect(content: bytes) -> str | None:
    """The content type of the bytes when it is on the allow-list, else None."""
    kind = filetype.guess(content)
    if kind is not None:
        return kind.mime if kind.mime in ALLOWED else None
    if b"\x00" in content or MARKUP.match(content[:512]):
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def safe_filename(name: str | None) -> str:
    """The base name without path, control or quoting characters, at most 200 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base)
                   if unicodedata.category(ch)[0] != "C" and ch not in '"<>|:*?;')
    base = base.strip(" .")[-200:]
    return base or "attachment"


def _dir(ctx: Ctx) -> Path:
    return Path(ctx.kehu.settings.var_dir) / "attachments"


def _path(ctx: Ctx, attachment_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", attachment_id):
        raise NotFound()
    return _dir(ctx) / f"{attachment_id}.bin"


def _aad(attachment_id: str) -> bytes:
    return Crypto.aad(TABLE, "content", attachment_id)


def _write_file(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _shown(ctx: Ctx, record: OrderAttachment, customer: Any, users: dict[str, str]) -> dict[str, Any]:
    body = {"id": record.id, **present(ctx.principal, ctx.catalog, "order_attachment", record,
                                       vault_of(ctx, customer), minor=minor_of(customer)).as_dict(),
            "created_at": record.created_at.isoformat(), "created_by": users.get(record.created_by)}
    return body


def _may_read(ctx: Ctx, customer: Any) -> bool:
    """The file is served only to a caller who sees its metadata in plain (same level rules as the order)."""
    minor = minor_of(customer)
    return all(policy.display_state(ctx.principal, ctx.catalog.get("order_attachment", n), minor=minor) == "plain"
               for n in FIELDS)


def add(session: Session, ctx: Ctx, *, order_no: str, filename: str | None, content: bytes | None) -> dict[str, Any]:
    """Attach a file to an order in scope: 422 `file` (required / too_large / type_not_allowed), else stored sealed."""
    order, customer = load(session, ctx, order_no, for_update=True)
    limit = ctx.kehu.settings.attachment_max_bytes
    errors: list[FieldError] = []
    mime = None
    if not content:
        errors.append(FieldError("file", "required", "请选择要上传的文件"))
    elif len(content) > limit:
        errors.append(FieldError("file", "too_large", f"文件过大：不能超过{limit // 1024} KB"))
    else:
        mime = detect(content)
        if mime is None:
            errors.append(FieldError("file", "type_not_allowed", f"文件类型不允许：只接受{ALLOWED_HELP}"))
    if errors:
        raise ValidationFailed(errors)
    values = {"filename": safe_filename(filename), "content_type": mime, "size_bytes": len(content)}
    require_create(ctx, "order_attachment", values, minor=minor_of(customer))
    record = OrderAttachment(id=new_id(), order_id=order.id, created_by=ctx.principal.user_id, **values)
    session.add(record)
    session.flush()
    path = _path(ctx, record.id)
    _write_file(path, aead.seal(vault_of(ctx, customer).dek, DEK_ID, content, _aad(record.id)))
    event.listen(session, "after_soft_rollback", lambda _s, _t: path.unlink(missing_ok=True), once=True)
    ctx.audit(session, action="order_attachment.create", target_type="order_attachment", target_id=record.id,
              customer_no=customer.archive_no, fields=[f"order_attachment.{n}" for n in FIELDS],
              detail={"order_no": order.order_no})
    return _shown(ctx, record, customer, ctx.names(session)[0])


def list_(session: Session, ctx: Ctx, *, order_no: str) -> dict[str, Any]:
    """Attachments of an order in scope (metadata as the caller may see it); audited when any is shown."""
    order, customer = load(session, ctx, order_no)
    rows = session.execute(select(OrderAttachment).where(OrderAttachment.order_id == order.id)
                           .order_by(OrderAttachment.id)).scalars().all()
    users = ctx.names(session)[0]
    items = [_shown(ctx, r, customer, users) for r in rows]
    if items:
        ctx.audit(session, action="order_attachment.list", target_type="order", target_id=order.id,
                  customer_no=customer.archive_no, fields=[f"order_attachment.{n}" for n in FIELDS],
                  detail={"records": len(items)})
    return {"order_no": order.order_no, "items": items, "downloadable": _may_read(ctx, customer),
            "max_bytes": ctx.kehu.settings.attachment_max_bytes}


def _one(session: Session, ctx: Ctx, order_no: str, attachment_id: str, *, for_update: bool = False):
    order, customer = load(session, ctx, order_no, for_update=for_update)
    record = session.execute(select(OrderAttachment).where(OrderAttachment.id == attachment_id,
                                                           OrderAttachment.order_id == order.id)).scalar_one_or_none()
    if record is None:
        raise NotFound()
    return order, customer, record


def read(session: Session, ctx: Ctx, *, order_no: str, attachment_id: str) -> tuple[dict[str, Any], bytes]:
    """(metadata, plain content) of one attachment; 404 outside the scope or without the right to see it."""
    order, customer, record = _one(session, ctx, order_no, attachment_id)
    if not _may_read(ctx, customer):
        raise NotFound()
    try:
        blob = _path(ctx, record.id).read_bytes()
    except FileNotFoundError:  # removed by a deletion that committed after this read began
        raise NotFound() from None
    content = aead.open_(vault_of(ctx, customer).dek, blob, _aad(record.id))
    ctx.audit(session, action="order_attachment.download", target_type="order_attachment", target_id=record.id,
              customer_no=customer.archive_no, fields=[f"order_attachment.{n}" for n in FIELDS],
              detail={"order_no": order.order_no})
    return {"filename": record.filename, "content_type": record.content_type, "size_bytes": record.size_bytes}, content


def delete(session: Session, ctx: Ctx, *, order_no: str, attachment_id: str) -> dict[str, Any]:
    """Remove an attachment (needs `delete` at its level); the file goes once the deletion has committed."""
    order, customer, record = _one(session, ctx, order_no, attachment_id, for_update=True)
    policy.require_fields(ctx.principal, "delete", [ctx.catalog.get("order_attachment", n) for n in FIELDS],
                          minor=minor_of(customer))
    path = _path(ctx, record.id)
    session.delete(record)
    session.flush()
    event.listen(session, "after_commit", lambda _s: path.unlink(missing_ok=True), once=True)
    ctx.audit(session, action="order_attachment.delete", target_type="order_attachment", target_id=record.id,
              customer_no=customer.archive_no, fields=[f"order_attachment.{n}" for n in FIELDS],
              detail={"order_no": order.order_no})
    return {"deleted": record.id}
