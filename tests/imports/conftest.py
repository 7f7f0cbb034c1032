"""Helpers of the import tests: files with Chinese headers, and a job run as a world user."""
from __future__ import annotations

import csv
import io
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from kehu.imports import reading, reports, runner, service
from tests.fixtures.world import customer_data

HEADER = ["客户姓名", "性别", "身份证号码", "手机号码", "邮箱", "省份", "城市", "区县", "详细地址", "职务"]
KEYS = ["name", "gender", "id_number", "mobile", "email", "province", "city", "district", "street", "occupation"]
BASIS = service.Basis(purposes=("service", "survey"), purpose="客户服务与回访", scope="姓名、联系方式、地址",
                      channel="import", notice_version="1.0", sensitive_consent=True)


def person(**overrides) -> list[str]:
    """One file row (cells in HEADER order) of a valid new individual."""
    data = customer_data(gender="男", **overrides)
    return ["" if data.get(k) is None else str(data[k]) for k in KEYS]


def write_csv(path: Path, rows: list[list[str]], *, header: list[str] = HEADER, encoding: str = "utf-8-sig") -> Path:
    """A CSV file in the given encoding."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list], *, header: list[str] = HEADER, above: list[list] = (),
               merge: str | None = None) -> Path:
    """An .xlsx file; `above` rows come before the header (e.g. a merged title row `merge`)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for r in above:
        ws.append(r)
    ws.append(header)
    for r in rows:
        ws.append(r)
    if merge:
        ws.merge_cells(merge)
    wb.save(path)
    return path


class Importer:
    """Runs the real import path (service + runner) as one world user."""

    def __init__(self, kehu, world, username: str):
        self.kehu, self.world, self.user_id = kehu, world, world.users[username]

    def ctx(self, session):
        return runner.context(self.kehu, session, self.user_id)

    def start(self, path: Path, *, basis: service.Basis = BASIS, **kw):
        opener = lambda: open(path, "rb")  # noqa: E731
        with open(path, "rb") as fh:
            digest = reading.content_hash(fh)
        with self.kehu.db.transaction() as s:
            job, resumed = service.start(s, self.ctx(s), file_name=path.name, open_bytes=opener, file_hash=digest,
                                         basis=basis, **kw)
            return job.id, resumed

    def check(self, job_id: str, path: Path | None = None) -> dict:
        return runner.check(self.kehu, user_id=self.user_id, job_id=job_id, path=path)

    def commit(self, job_id: str, path: Path | None = None, chunk: int = 1000) -> dict:
        return runner.commit(self.kehu, user_id=self.user_id, job_id=job_id, path=path, chunk=chunk)

    def run(self, path: Path, *, dry_run: bool = False, **kw) -> tuple[str, dict]:
        job_id, _ = self.start(path, **kw)
        return job_id, (self.check(job_id, path) if dry_run else self.commit(job_id, path))

    def issues(self, job_id: str, phase: str) -> set[tuple]:
        from openpyxl import load_workbook

        with self.kehu.db.transaction() as s:
            _name, data = reports.report(s, self.ctx(s), job_id=job_id, phase=phase)
        rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
        assert rows[0] == tuple(reports.REPORT_HEADER)
        return {(r[0], r[1], r[2]) for r in rows[1:]}


@pytest.fixture
def importer(kehu, world):
    """`importer(username)` → an Importer acting as that world user."""
    return lambda username="info": Importer(kehu, world, username)


@contextmanager
def committing(monkeypatch, job_id: str):
    """While inside: this process looks as if it were committing the job (a live thread registered for it)."""
    busy = threading.Event()
    worker = threading.Thread(target=busy.wait, daemon=True)
    worker.start()
    monkeypatch.setitem(runner._running, job_id, worker)
    try:
        yield
    finally:
        busy.set()
        worker.join()
