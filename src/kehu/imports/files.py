"""Files of an import job: the uploaded file kept encrypted on disk, and the report / rejects files.

An upload may hold level-1 data, so it is never written in plaintext: it is sealed in 1 MiB chunks
with the job's data key (AES-256-GCM, each chunk bound to the job and its position) and deleted when
the job is purged. Report and rejects files are produced on demand, in memory, and every cell is
neutralised against spreadsheet formula injection.
"""
from __future__ import annotations

import csv
import io
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kehu.security import aead
from kehu.security.crypto import DEK_ID, Crypto

_CHUNK = 1 << 20
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "|")
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")  # not allowed in an xlsx cell


def owner(job_id: str) -> str:
    """The associated-data owner of a job's data key."""
    return f"import:{job_id}"


def seal_file(crypto: Crypto, dek: bytes, job_id: str, source: io.BufferedIOBase | io.BytesIO, target: Path) -> None:
    """Write `source` to `target` encrypted, chunk by chunk (length-prefixed sealed chunks)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with open(tmp, "wb") as out:
        n = 0
        while chunk := source.read(_CHUNK):
            blob = aead.seal(dek, DEK_ID, chunk, f"{owner(job_id)}|{n}".encode())
            out.write(struct.pack(">I", len(blob)) + blob)
            n += 1
    tmp.chmod(0o600)
    tmp.replace(target)


def open_sealed(dek: bytes, job_id: str, path: Path) -> io.BytesIO:
    """The plaintext of a sealed upload, in memory (a tampered or truncated file fails to open)."""
    out = io.BytesIO()
    with open(path, "rb") as fh:
        n = 0
        while head := fh.read(4):
            (size,) = struct.unpack(">I", head)
            out.write(aead.open_(dek, fh.read(size), f"{owner(job_id)}|{n}".encode()))
            n += 1
    out.seek(0)
    return out


def safe(value: Any) -> Any:
    """A cell value that a spreadsheet shows as text, never evaluates (formula injection neutralised)."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = _ILLEGAL.sub("", str(value))
    return "'" + text if text.startswith(_FORMULA) else text


def xlsx(header: list[str], rows: Iterable[list[Any]], *, title: str) -> bytes:
    """An .xlsx workbook (write-only, streamed) of one sheet; every cell neutralised."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.append([safe(h) for h in header])
    for row in rows:
        ws.append([safe(c) for c in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(header: list[str], rows: Iterable[list[Any]]) -> bytes:
    """A UTF-8 CSV with BOM (opens correctly in Excel); every cell neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([safe(h) for h in header])
    for row in rows:
        w.writerow([safe(c) for c in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
