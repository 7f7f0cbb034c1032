"""Crash safety: a real `kehu import` process killed with SIGKILL at several points, then run again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from kehu.audit.chain import verify
from kehu.consent.models import ConsentRecord, ConsentState
from kehu.customers.models import Customer, History
from kehu.imports.models import ImportIssue, ImportJob
from tests.imports.conftest import person, write_csv

ROOT = Path(__file__).resolve().parents[2]
ROWS, CHUNK = 1200, 40


def _cli(kehu, tmp_path, path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KEHU_DATABASE_URL": kehu.db.url,
           "KEHU_KEYS": kehu.keys.to_json(), "KEHU_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "120"}
    cmd = [sys.executable, "-c", "from kehu.cli import main; main()", "import", str(path), "--as", "info",
           "--purpose-code", "service", "--purpose-code", "contract", "--scope", "联系方式", "--notice-version", "1.0",
           "--sensitive-consent",
           "--chunk", str(CHUNK)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _checkpoint(engine) -> int | None:
    with engine.connect() as c:
        row = c.execute(text("SELECT checkpoint FROM import_jobs")).first()
    return None if row is None else row[0]


def _kill_when(proc: subprocess.Popen, engine, reached) -> bool:
    """SIGKILL the process as soon as `reached(checkpoint)`; False if it finished first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            point = _checkpoint(engine)
        except Exception:  # table locked or not there yet
            point = None
        if reached(point):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("import did not progress")


def test_kill_9_at_several_points_then_resume_imports_every_row_exactly_once(kehu, world, tmp_path):
    rows = [person() for _ in range(ROWS)]
    for i in range(0, ROWS, 97):
        rows[i][3] = "12345"  # invalid mobile: rejected
    rows[500] = list(rows[499])  # an exact repeat inside the file
    bad = {i for i in range(0, ROWS, 97)} | {500}
    path = write_csv(tmp_path / "big.csv", rows)
    engine = create_engine(kehu.db.url)
    kills = 0
    for reached in (lambda p: p is not None,  # job created, nothing committed yet
                    lambda p: p is not None and p >= 200,
                    lambda p: p is not None and p >= 640,
                    lambda p: p is not None and p >= 1000):
        kills += _kill_when(_cli(kehu, tmp_path, path), engine, reached)
    assert kills >= 2
    final = _cli(kehu, tmp_path, path)
    out = final.communicate(timeout=300)[0].decode()
    assert final.returncode == 0, out
    engine.dispose()
    with kehu.db.reader() as s:
        job = s.execute(select(ImportJob)).scalar_one()
        assert (job.status, job.checkpoint, job.created, job.rejected) == ("done", ROWS, ROWS - len(bad), len(bad))
        assert s.scalar(select(func.count()).select_from(Customer)) == ROWS - len(bad)
        assert s.scalar(select(func.count(func.distinct(Customer.mobile_bi)))) == ROWS - len(bad)
        assert s.scalar(select(func.count()).select_from(History)) == ROWS - len(bad)
        # exactly one consent record per imported archive, none for a rejected row, none twice after a kill
        consents = s.execute(select(ConsentRecord.customer_id, ConsentRecord.purposes, ConsentRecord.sensitive,
                                    ConsentRecord.notice_version, ConsentRecord.source)).all()
        assert len(consents) == ROWS - len(bad) == len({c.customer_id for c in consents})
        assert {tuple(c[1:]) for c in consents} == {("service,contract", "yes", "1.0", f"import:{job.id}")}
        assert s.scalar(select(func.count()).select_from(ConsentState)) == 3 * (ROWS - len(bad))
        issues = s.execute(select(ImportIssue.row_no).where(ImportIssue.phase == "commit")).scalars().all()
        assert sorted(issues) == sorted(i + 2 for i in bad)  # each reject recorded once (file row = index + 2)
        assert verify(s, kehu.audit).ok
    again = _cli(kehu, tmp_path, path)  # the finished file once more: nothing to do
    assert again.wait(timeout=120) == 0
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == ROWS - len(bad)
        assert s.scalar(select(func.count()).select_from(ConsentRecord)) == ROWS - len(bad)
