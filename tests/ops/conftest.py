"""Fixtures for backups and key rotation: a key file, a richly populated store, readers of every value."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, inspect, select, text

from kehu.catalog.registry import data_models
from kehu.customers import children, service
from kehu.customers.models import Customer
from kehu.security.crypto import NO_KEY
from tests.fixtures.world import customer_data


@pytest.fixture
def key_file(kehu, keys):
    """The runtime's keys written to its key file (rotation rewrites the file)."""
    path = kehu.settings.resolved_key_file()
    keys.write(path)
    return path


@dataclass
class Store:
    """What `populate` created: archive numbers and the exact-search values of each customer."""

    archive_nos: list[str] = field(default_factory=list)
    mobiles: dict[str, str] = field(default_factory=dict)  # archive no → mobile
    id_numbers: dict[str, str] = field(default_factory=dict)
    contact_mobiles: dict[str, str] = field(default_factory=dict)  # archive no → a contact's mobile


def populate(kehu, world, *, individuals: int = 6, organisations: int = 2) -> Store:
    """Customers with level-1 values, contacts, addresses, relations, a changed field (history)."""
    ctx = world.ctx("info")
    store = Store()
    for i in range(individuals):
        data = customer_data(bank_account=f"62220202001122{i:05d}", allergies=f"青霉素过敏{i}",
                             annual_income=f"年收入{i}百万", credit_rating="AAA")
        with kehu.db.transaction() as s:
            c = service.create(s, ctx, data=data, reason="录入")
            store.archive_nos.append(c.archive_no)
            store.mobiles[c.archive_no] = data["mobile"]
            store.id_numbers[c.archive_no] = data["id_number"]
        with kehu.db.transaction() as s:
            children.add(s, ctx, archive_no=c.archive_no, entity="relation",
                         data={"kind": "spouse", "name": "李四", "mobile": f"1371234{i:04d}"}, reason="补充")
            children.add(s, ctx, archive_no=c.archive_no, entity="address",
                         data={"label": "家庭地址", "street": f"朝阳路{i}号"}, reason="补充")
        with kehu.db.transaction() as s:
            service.update(s, ctx, archive_no=c.archive_no, data={"credit_rating": "AA"}, reason="复评")
    for i in range(organisations):
        data = customer_data(kind="organisation")
        with kehu.db.transaction() as s:
            c = service.create(s, ctx, data=data, reason="录入")
            store.archive_nos.append(c.archive_no)
            store.mobiles[c.archive_no] = data["mobile"]
        mobile = f"1365555{i:04d}"
        with kehu.db.transaction() as s:
            children.add(s, ctx, archive_no=c.archive_no, entity="contact",
                         data={"name": "王经理", "mobile": mobile, "email": f"wang{i}@example.cn"}, reason="补充")
        store.contact_mobiles[c.archive_no] = mobile
    return store


def plaintexts(kehu) -> dict[tuple[str, str, str], str]:
    """Every encrypted value of every table, decrypted with its customer's data key."""
    out = {}
    with kehu.db.reader() as s:
        deks = {cid: kehu.crypto.unwrap(w, owner=cid) for cid, w in s.execute(select(Customer.id, Customer.dek))
                if w != NO_KEY}
        for cls in data_models().values():
            table = cls.__table__
            enc = [c.name for c in table.columns if c.info.get("kehu_field", {}).get("encrypted")]
            if not enc:
                continue
            stmt = select(table.c.id, *(table.c[n] for n in enc))
            if table.name == "customers":
                stmt = stmt.add_columns(table.c.id.label("owner"))
            elif "customer_id" in table.c:
                stmt = stmt.add_columns(table.c.customer_id.label("owner"))
            else:  # held under an order (payments)
                orders = data_models()["order"].__table__
                stmt = stmt.add_columns(orders.c.customer_id.label("owner")).join(
                    orders, orders.c.id == table.c.order_id)
            for row in s.execute(stmt):
                if row.owner not in deks:  # crypto-shredded customer: nothing of it can be read
                    continue
                for n in enc:
                    blob = getattr(row, n)
                    if blob is not None:
                        out[(table.name, row.id, n)] = kehu.crypto.decrypt(deks[row.owner], blob, table=table.name,
                                                                           field=n, row_id=row.id)
    return out


def dump_tables(url: str, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of every table, sorted, for a table-by-table comparison."""
    eng = create_engine(url)
    out = {}
    try:
        with eng.connect() as conn:
            for t in sorted(inspect(conn).get_table_names()):
                if t in skip:
                    continue
                rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                        for r in conn.execute(text(f'SELECT * FROM "{t}"'))]
                out[t] = sorted(rows, key=repr)
    finally:
        eng.dispose()
    return out


def search(kehu, world, q: str) -> list[str]:
    """Archive numbers an exact search finds (as the information manager)."""
    with kehu.db.transaction() as s:
        return [item["archive_no"] for item in service.list_(s, world.ctx("info"), q=q, limit=100)["items"]]


@pytest.fixture
def fresh_url(db_url, tmp_path):
    """An empty target of the same engine: a new directory (SQLite) or a new database (PostgreSQL)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'kehu.db'}"
        return
    import uuid

    from sqlalchemy.engine import make_url

    server = make_url(db_url).set(database="postgres")
    name = "r_" + uuid.uuid4().hex[:12]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(db_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def shred(kehu, archive_no: str) -> str:
    """Stand-in for the erasure feature: drop a customer's data key and blind indexes in the live store."""
    from sqlalchemy import update

    from kehu.customers.models import Contact

    with kehu.db.transaction() as s:
        cid = s.execute(select(Customer.id).where(Customer.archive_no == archive_no)).scalar_one()
        s.execute(update(Customer).where(Customer.id == cid).values(
            dek=NO_KEY, mobile_bi=None, id_number_bi=None, email_bi=None))
        s.execute(update(Contact).where(Contact.customer_id == cid).values(mobile_bi=None, email_bi=None))
    return cid
