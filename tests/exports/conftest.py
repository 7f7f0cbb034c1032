"""Helpers of the export tests: files parsed back, the export call, the approver fixtures of the approvals tests."""
from __future__ import annotations

import csv
import io
from urllib.parse import quote

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


class Browserless:
    """A web session of one user over the TestClient (cookie + CSRF), for page-level tests."""

    def __init__(self, kehu, world, client, username: str):
        from kehu.access import service as access
        from kehu.web.session import SESSION_COOKIE

        with kehu.db.transaction() as s:
            result = access.login(s, kehu=kehu, username=username, password=world.password, ip="127.0.0.1",
                                  kind="web")
        self.client, self.csrf = client, result.csrf
        self.cookies = {SESSION_COOKIE: result.token}

    def get(self, url: str, **kw):
        """GET a page as this user."""
        self.client.cookies.clear()
        return self.client.get(url, cookies=self.cookies, follow_redirects=False, **kw)

    def post(self, url: str, data: dict | list, **kw):
        """POST a form as this user (with the session's CSRF token)."""
        self.client.cookies.clear()
        items = list(data.items()) if isinstance(data, dict) else list(data)
        body = "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in items + [("csrf", self.csrf)])
        return self.client.post(url, content=body, cookies=self.cookies, follow_redirects=False,
                                headers={"Content-Type": "application/x-www-form-urlencoded"}, **kw)
