"""Reading customer files: CSV in any common Chinese encoding, Excel (.xlsx, read-only), streamed.

A file is read as a header plus an iterator of data rows (lists of text cells). The header row is
found among the first rows (the one naming most known columns), so title rows, merged group headers
above the real header and blank lines do not matter. Nothing is held in memory but the current row.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from kehu.errors import FieldError, ValidationFailed

#: How many leading rows are searched for the header.
HEADER_SCAN = 10
_SAMPLE = 256 * 1024
csv.field_size_limit(1 << 24)  # a hostile 10,000-character (or larger) cell is read, then reported


@dataclass
class Table:
    """A header and the data rows of a file: `rows()` yields (row number in the file, cells)."""

    kind: str  # csv | xlsx
    encoding: str | None
    header: list[str]
    header_row: int  # 1-based row number of the header in the file
    rows: Callable[[], Iterator[tuple[int, list[str]]]]


def content_hash(fh: IO[bytes]) -> str:
    """SHA-256 of a file's bytes (identifies an import job across restarts)."""
    h = hashlib.sha256()
    fh.seek(0)
    while chunk := fh.read(1 << 20):
        h.update(chunk)
    fh.seek(0)
    return h.hexdigest()


def kind_of(name: str, head: bytes) -> str:
    """'xlsx' for a zip (Office Open XML) or a .xlsx name, else 'csv'."""
    if head[:4] == b"PK\x03\x04":
        return "xlsx"
    if name.lower().endswith((".xlsx", ".xlsm")):
        raise ValidationFailed([FieldError("file", "file_unreadable", "文件不是有效的 Excel (.xlsx) 文件")])
    return "csv"


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK/GB2312), else charset-normalizer's guess."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)().decode(sample, final=complete)
            return enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise ValidationFailed([FieldError("file", "encoding_unknown", "无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV")])
    return best.encoding


def _text(value: Any) -> str:
    """A spreadsheet cell as text (dates as YYYY-MM-DD, whole floats without '.0')."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _header_index(rows: list[tuple[int, list[str]]], score: Callable[[list[str]], int]) -> int:
    best, best_score = 0, -1
    for i, (_no, cells) in enumerate(rows):
        s = score(cells)
        if s > best_score:
            best, best_score = i, s
    return best


Opener = Callable[[], IO[bytes]]


def _csv_rows(open_bytes: Opener, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with io.TextIOWrapper(open_bytes(), encoding=encoding, newline="", errors="replace") as fh:
        reader = csv.reader(fh)
        for n, cells in enumerate(reader, start=1):
            yield n, cells


def _xlsx_rows(open_bytes: Opener) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    wb = load_workbook(open_bytes(), read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_text(v) for v in values]
            while cells and cells[-1] == "":  # read-only sheets pad rows to the widest row
                cells.pop()
            yield n, cells
    finally:
        wb.close()


def open_table(open_bytes: Opener, *, name: str, score: Callable[[list[str]], int]) -> Table:
    """Open a CSV or XLSX file for streaming; `score(cells)` rates a candidate header row."""
    with open_bytes() as fh:
        head = fh.read(_SAMPLE + 1)
    kind = kind_of(name, head)
    encoding = detect_encoding(head[:_SAMPLE], complete=len(head) <= _SAMPLE) if kind == "csv" else None

    def source() -> Iterator[tuple[int, list[str]]]:
        return all_rows(open_bytes, kind=kind, encoding=encoding)
    try:
        first = []
        for item in source():
            if any(c.strip() for c in item[1]):
                first.append(item)
            if len(first) >= HEADER_SCAN:
                break
    except (csv.Error, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:  # zip/XML errors of a broken workbook
        raise ValidationFailed([FieldError("file", "file_unreadable", f"文件无法读取：{type(exc).__name__}")]) from None
    if not first:
        raise ValidationFailed([FieldError("file", "file_empty", "文件中没有数据")])
    at = _header_index(first, score)
    header_row, header = first[at]
    header = [re.sub(r"\s+", " ", h).strip() for h in header]

    return Table(kind=kind, encoding=encoding, header=header, header_row=header_row,
                 rows=lambda: data_rows(open_bytes, kind=kind, encoding=encoding, header_row=header_row))


def all_rows(open_bytes: Opener, *, kind: str, encoding: str | None) -> Iterator[tuple[int, list[str]]]:
    """Every row of a file: (1-based row number, cells as text)."""
    return _csv_rows(open_bytes, encoding or "utf-8") if kind == "csv" else _xlsx_rows(open_bytes)


def data_rows(open_bytes: Opener, *, kind: str, encoding: str | None, header_row: int
              ) -> Iterator[tuple[int, list[str]]]:
    """The rows below the header (as found when the job started)."""
    for n, cells in all_rows(open_bytes, kind=kind, encoding=encoding):
        if n > header_row:
            yield n, cells
