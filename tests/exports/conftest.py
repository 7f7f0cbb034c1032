"""Helpers of the export tests: a second information manager (the approver), files parsed back."""
from __future__ import annotations

import csv
import io

import pytest

from kehu.access import service as access


@pytest.fixture
def info2(kehu, world) -> str:
    """A second 信息管理员 (may approve level-1 exports of the first)."""
    with kehu.db.transaction() as s:
        u = access.create_user(s, None, username="info2", display_name="Info2", password=world.password,
                               role_code="info_manager", department_id=world.departments["hq"])
        world.users["info2"] = u.id
    return "info2"


def read_csv(content: bytes) -> tuple[str, list[str], list[list[str]]]:
    """(watermark, header, rows) of an exported CSV."""
    text = content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0][0], rows[1], rows[2:]


def read_xlsx(content: bytes):
    """(workbook, rows as lists) of an exported Excel file."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(content))
    ws = wb.worksheets[0]
    return wb, [[c.value for c in row] for row in ws.iter_rows()]


def export(client, headers, **body):
    """POST /api/v1/exports with sensible defaults."""
    body.setdefault("purpose", "季度回访名单")
    body.setdefault("use", "service")
    return client.post("/api/v1/exports", json=body, headers=headers)
