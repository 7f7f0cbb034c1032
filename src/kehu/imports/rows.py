"""From file cells to service input: one row → the body `customers.service.create` takes, plus the row
checks that only a file can fail (column count, an identical earlier row).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from kehu.consent.basis import guardian_of
from kehu.errors import FieldError
from kehu.imports.mapping import ARCHIVE_NO


@dataclass
class Row:
    """One data row of the file: its number in the file, cells, and what it becomes."""

    no: int
    cells: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    archive_no: str | None = None
    guardian: dict[str, str | None] = field(default_factory=dict)  # guardian_name / guardian_relation (checked)
    errors: list[FieldError] = field(default_factory=list)
    empty: bool = False


def blank(cells: list[str]) -> bool:
    """A row without any non-blank cell."""
    return not any(c and c.strip() for c in cells)


def digest(cells: list[str], columns: list[int]) -> bytes:
    """Fingerprint of a row's mapped cells (to find identical rows without keeping their text)."""
    n = len(cells)  # one join, one encode, one hash: the same bytes as hashing cell + 0x1F cell by cell
    text = "".join((cells[i].strip() if i < n else "") + "\x1f" for i in columns)
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()


def convert(no: int, cells: list[str], mapping: dict[int, str], width: int, *, strict_width: bool) -> Row:
    """A file row as service input; mapped empty cells mean "no value"."""
    row = Row(no, cells)
    if blank(cells):
        row.empty = True
        return row
    extra = [c for c in cells[width:] if c and c.strip()]
    if extra:
        row.errors.append(FieldError("row", "column_count", f"本行有{len(cells)}列，多于表头的{width}列"))
    elif strict_width and len(cells) < width:
        row.errors.append(FieldError("row", "column_count", f"本行只有{len(cells)}列，少于表头的{width}列"))
    data: dict[str, Any] = {}
    contact: dict[str, Any] = {}
    guardian: dict[str, str] = {}
    for i, target in mapping.items():
        value = cells[i] if i < len(cells) else ""
        if value is None or not value.strip():
            continue
        if target == ARCHIVE_NO:
            row.archive_no = value.strip().upper()
            continue
        entity, name = target.split(".", 1)
        {"customer": data, "contact": contact, "consent": guardian}[entity][name] = value
    if contact:
        data["contacts"] = [contact]
    if guardian:
        name, relation, errors = guardian_of(guardian.get("guardian_name"), guardian.get("guardian_relation"))
        row.guardian = {"guardian_name": name, "guardian_relation": relation}
        row.errors += errors
    if "kind" not in data:  # no type column: a row with a credit code or a contact person is an organisation
        data["kind"] = "organisation" if ("uscc" in data or contact) else "individual"
    row.data = data
    return row


class Stream:
    """Turns (row number, cells) into Rows; an exact repeat of an earlier row is flagged, not imported twice.

    `skip` data rows (a resumed job's checkpoint) are only fingerprinted, so a repeat of a row written
    before the restart is still recognised.
    """

    def __init__(self, header: list[str], columns: dict[int, str], *, strict_width: bool):
        self.width = len(header)
        self.columns = columns
        self.mapped = sorted(columns)
        self.strict = strict_width
        self.seen: dict[bytes, int] = {}
        self.count = 0  # data rows read so far (blank ones included): the checkpoint unit

    def rows(self, source, *, skip: int = 0):
        """Rows after the first `skip` data rows."""
        for no, cells in source:
            self.count += 1
            if self.count <= skip:
                if not blank(cells):
                    self.seen.setdefault(digest(cells, self.mapped), no)
                continue
            row = convert(no, cells, self.columns, self.width, strict_width=self.strict)
            if not row.empty:
                first = self.seen.setdefault(digest(cells, self.mapped), no)
                if first != no and not row.errors:
                    row.errors.append(FieldError("row", "duplicate_row", f"与文件第{first}行完全相同"))
            yield row
