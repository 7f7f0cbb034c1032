"""Worker processes: the memoised validator steps answer exactly like the plain ones; a parallel import
stores exactly what the in-process import stores."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from kehu.consent.models import ConsentRecord, ConsentState
from kehu.customers.models import Contact, Customer, History
from tests.fixtures.world import id_number
from tests.imports.conftest import person, write_csv

ROOT = Path(__file__).resolve().parents[2]

COMPARE = r'''
import random, sys
from kehu import demo
from kehu.kit import validate as v
from kehu.catalog import validation
from kehu.customers import bulk

def outcome(fn, value):
    try:
        return ("ok", fn(value))
    except v.Invalid as exc:
        return ("err", exc.code, exc.message)

rng = random.Random(7)
rows = list(demo.generate(3000, seed=11))
mobiles = [r["mobile"] for r in rows if r.get("mobile")]
mobiles += [f"1{p:02d}{rng.randrange(10**8):08d}" for p in range(100) for _ in range(20)]
mobiles += ["+8613912345678", "139 1234 5678", "12345", "1391234567x"]
ids = [r["id_number"] for r in rows if r.get("id_number")] + ["110105197001010000", "11010519700101001X",
                                                            "990105197001010011", "110105189901010018"]
mails = [r["email"] for r in rows if r.get("email")] + ["a..b@x.cn", "Üser@例子.中国", "x@localhost", "a@b", "A.B@QQ.COM",
                                                       "\"q r\"@example.com", "x@-bad-.com"]
names = [r["name"] for r in rows] + ["重庆长安汽车股份有限公司", "ABC公司", "张三1号", "银行行长", "Ω测试", "长长长", "单于", "曾重",
                                     "乐乐乐", "A-1 重庆 银行", "行长行", "朝阳朝阳区"]
plain = ([outcome(validation.CHECKS["mobile"], m) for m in mobiles], [outcome(v.id_number, i) for i in ids],
         [outcome(v.email, e) for e in mails], [bulk.pinyin_keys(n) for n in names])
from kehu.imports.parallel import install_memos
install_memos()
memo = ([outcome(validation.CHECKS["mobile"], m) for m in mobiles], [outcome(v.id_number, i) for i in ids],
        [outcome(v.email, e) for e in mails], [bulk.pinyin_keys(n) for n in names])
memo2 = ([outcome(validation.CHECKS["mobile"], m) for m in mobiles], [outcome(v.id_number, i) for i in ids],
         [outcome(v.email, e) for e in mails], [bulk.pinyin_keys(n) for n in names])
assert plain == memo == memo2, [(a, b) for x, y in zip(plain, memo) for a, b in zip(x, y) if a != b][:5]
print("same", len(mobiles), len(ids), len(mails))
'''


def test_memoised_validators_answer_like_the_plain_ones():
    out = subprocess.run([sys.executable, "-c", COMPARE], env={"PYTHONPATH": str(ROOT / "src")}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("same")


def stored(kehu) -> tuple:
    with kehu.db.reader() as s:
        return (s.scalar(select(func.count()).select_from(Customer)), s.scalar(select(func.count()).select_from(Contact)),
                s.scalar(select(func.count()).select_from(History)),
                sorted(s.execute(select(Customer.name, Customer.name_pinyin, Customer.city, Customer.source_channel,
                                        Customer.department_id))),
                sorted(s.execute(select(Customer.name, ConsentRecord.purposes, ConsentRecord.scope,
                                        ConsentRecord.sensitive, ConsentRecord.channel, ConsentRecord.notice_version)
                                 .join(ConsentRecord, ConsentRecord.customer_id == Customer.id))))


def test_a_parallel_import_stores_what_the_plain_import_stores(importer, kehu, tmp_path):
    rows = [person() for _ in range(60)]
    rows[3][3] = "12345"
    rows[10] = list(rows[9])
    rows[20][4] = rows[21][4]  # same e-mail twice: the second is a duplicate of the first
    rows[30] = person(id_number=id_number(901, born=date.today() - timedelta(days=3650)))  # a minor, no guardian
    rows.append([""] * 10)
    path = write_csv(tmp_path / "p.csv", rows)
    imp = importer()
    job_id, _ = imp.start(path)
    from kehu.imports import runner

    result = runner.commit(kehu, user_id=imp.user_id, job_id=job_id, path=path, chunk=7, workers=2)
    assert (result["created"], result["rejected"]) == (56, 4)
    issues = imp.issues(job_id, "commit")
    assert {(r, c) for r, _f, c in issues} == {(5, "mobile_invalid"), (12, "duplicate_row"),
                                               (23, "duplicate"),  # first one committed in an earlier chunk
                                               (32, "guardian_consent_required")}  # checked in the worker
    parallel = stored(kehu)
    assert len(parallel[4]) == 56  # one consent record per archive
    with kehu.db.transaction() as s:  # the same file again, in-process, into an empty store
        s.execute(ConsentState.__table__.delete())
        s.execute(ConsentRecord.__table__.delete())
        s.execute(History.__table__.delete())
        s.execute(Contact.__table__.delete())
        s.execute(Customer.__table__.delete())
    job2, _ = imp.start(path, again=True)
    again = runner.commit(kehu, user_id=imp.user_id, job_id=job2, path=path, chunk=7, workers=0)
    assert (again["created"], again["rejected"]) == (56, 4)
    assert stored(kehu) == parallel
