"""A large export streams in keyset pages: memory stays bounded whatever the number of customers."""
from __future__ import annotations

import tracemalloc

from kehu.customers import bulk
from kehu.exports import service, writer
from tests.exports.conftest import read_csv

N = 20_000
FIELDS = ["archive_no", "name", "street", "allergies", "notes", "region", "owner_id"]


def _load(kehu, world, n: int) -> None:
    ctx = world.ctx("alice")
    with kehu.db.transaction() as s:
        rows = ({"kind": "individual", "name": f"客户{i}", "landline": "010-62345678", "street": f"建国路{i}号", "allergies": "花生过敏",
                 "notes": "=1+1" if i % 2 else "老客户", "region": "华东"} for i in range(n))
        result = bulk.create_many(s, ctx, rows, reason="测试")
    assert result.created == n


def _plan(kehu, world, fmt: str) -> service.Plan:
    with kehu.db.transaction() as s:
        return service.start(s, world.ctx("info"), fields=FIELDS, purpose="全量备查", use="operations", fmt=fmt).plan


def _peak(kehu, world) -> tuple[int, int, bytes]:
    """(peak traced bytes while streaming, total bytes, first chunk) of a CSV export by info."""
    plan = _plan(kehu, world, "csv")
    total, first = 0, b""
    tracemalloc.start()
    try:
        for chunk in writer.stream(plan):
            first = first or chunk
            total += len(chunk)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, total, first


def test_20k_customer_export_stays_bounded(kehu, world):
    _load(kehu, world, N)
    peak, total, first = _peak(kehu, world)
    _mark, header, rows = read_csv(first)
    assert len(header) == len(FIELDS) and len(rows) == writer.PAGE_SIZE  # the first chunk is one page
    assert total > 1_000_000
    # one page at a time: the peak is a fraction of the file, which held in memory as rows would be many times it
    assert peak < 6_000_000, (peak, total)
    # Excel: openpyxl's write-only sheet (rows go to its temporary file), the file streamed from a temporary file
    chunks = [len(c) for c in writer.stream(_plan(kehu, world, "xlsx"))]
    assert sum(chunks) > 300_000 and max(chunks) <= writer.CHUNK
    with kehu.db.reader() as s:
        from sqlalchemy import select

        from kehu.exports.models import Export

        counts = list(s.execute(select(Export.row_count).order_by(Export.id)).scalars())
    assert counts == [N, N]
