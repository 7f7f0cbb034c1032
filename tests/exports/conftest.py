"""Helpers of the export tests: files parsed back, the export call, the approver fixtures of the approvals tests."""
from __future__ import annotations

import csv
import io

from tests.approvals.conftest import audit_rows, info2, person  # noqa: F401  (fixtures and helpers shared)


def read_csv(content: bytes) -> tuple[str, list[str], list[list[str]]]:
    """(watermark, header, rows) of an exported CSV."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    return rows[0][0], rows[1], rows[2:]


def read_xlsx(content: bytes):
    """(workbook, rows as lists of cells) of an exported Excel file."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(content))
    return wb, [list(row) for row in wb.worksheets[0].iter_rows()]


def export(client, headers, **body):
    """POST /api/v1/exports with a purpose and a purpose category unless given."""
    body.setdefault("purpose", "季度回访名单")
    body.setdefault("use", "service")
    return client.post("/api/v1/exports", json=body, headers=headers)
