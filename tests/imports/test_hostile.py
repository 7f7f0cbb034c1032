"""Hostile files: encodings, merged Excel headers, blank rows, huge cells, formulas, wrong widths, repeats."""
from __future__ import annotations

import pytest

from kehu.errors import ValidationFailed
from tests.imports.conftest import HEADER, person, write_csv, write_xlsx


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030"])
def test_every_common_encoding_reads_the_same(importer, tmp_path, encoding):
    rows = [person(street="北京市朝阳区建国路甲1号")]
    job_id, plan = importer().run(write_csv(tmp_path / f"{encoding}.csv", rows, encoding=encoding), dry_run=True)
    assert (plan["create"], plan["reject"]) == (1, 0)
    with importer().kehu.db.reader() as s:
        from kehu.imports.models import ImportJob

        job = s.get(ImportJob, job_id)
        assert job.encoding in {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8"}.get(encoding, "gb18030")


def test_gbk_and_utf8_bom_files_import_identically(importer, kehu, tmp_path):
    rows = [person(), person()]
    a = importer().run(write_csv(tmp_path / "a.csv", rows, encoding="gbk"), dry_run=True)[1]
    b = importer().run(write_csv(tmp_path / "b.csv", rows, encoding="utf-8-sig"), dry_run=True)[1]
    assert a == b and a["create"] == 2


def test_merged_title_and_group_header_cells_in_excel(importer, kehu, tmp_path):
    rows = [person(), [], person(mobile="123"), person()]
    path = write_xlsx(tmp_path / "m.xlsx", rows, above=[["2026年客户名单", None, None, None], [], ["基本信息", None, None, "联系方式"]],
                      merge="A1:D1")
    job_id, result = importer().run(path)
    assert (result["created"], result["rejected"]) == (2, 1)
    assert importer().issues(job_id, "commit") == {(7, "手机", "mobile_invalid")}  # header found on row 4


def test_empty_rows_huge_cells_wrong_widths_and_repeated_rows(importer, kehu, tmp_path):
    good = person()
    huge = person(street="路" * 10_000)
    too_wide = [*person(), "多出来的"]
    too_short = person()[:5]
    rows = [good, [], ["", " ", ""], huge, too_wide, too_short, list(good), person(notes="x" * 30_000)[:10]]
    path = write_csv(tmp_path / "h.csv", rows)
    job_id, plan = importer().run(path, dry_run=True)
    assert (plan["rows"], plan["empty"], plan["create"]) == (8, 2, 2)
    issues = importer().issues(job_id, "check")
    assert issues == {(5, "街道地址", "too_long"), (6, "整行", "column_count"), (7, "整行", "column_count"),
                      (8, "整行", "duplicate_row")}


def test_a_file_that_is_not_a_table_is_refused_clearly(importer, tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is no workbook")
    with pytest.raises(ValidationFailed) as exc:
        importer().start(bad)
    assert exc.value.errors[0].code == "file_unreadable"
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"\n\n")
    with pytest.raises(ValidationFailed) as exc:
        importer().start(empty)
    assert exc.value.errors[0].code == "file_empty"
    unmapped = write_csv(tmp_path / "u.csv", [["a", "b"]], header=["foo", "bar"])
    with pytest.raises(ValidationFailed) as exc:
        importer().start(unmapped)
    assert "mapping" in {e.field for e in exc.value.errors}


def test_header_only_and_binary_garbage(importer, tmp_path):
    path = write_csv(tmp_path / "only.csv", [], header=HEADER)
    _job, result = importer().run(path)
    assert (result["created"], result["rejected"], result["status"]) == (0, 0, "done")
    garbage = tmp_path / "g.csv"
    garbage.write_bytes("客户姓名,手机号码,详细地址\n".encode("gbk") + bytes(range(256)) * 4 + b"\n")
    with pytest.raises(ValidationFailed) as exc:  # neither UTF-8 nor GB18030 nor anything recognisable
        importer().start(garbage)
    assert exc.value.errors[0].code == "encoding_unknown"
