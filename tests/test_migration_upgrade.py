"""A populated store made at revision 0006 upgrades to head with `kehu init`, on both engines: every table,
its data and the report cells; an interrupted upgrade re-runs; a store stamped ahead of its tables is repaired."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, select
from typer.testing import CliRunner

from kehu.access.defaults import CAPABILITY_HOLDERS, DEFAULT_ROLES
from kehu.access.models import CAPABILITIES, Department, Grant, KnownCapability, Role, User
from kehu.audit.chain import verify
from kehu.audit.models import AuditEntry
from kehu.catalog.vault import Vault
from kehu.cli import app
from kehu.complaints.models import Complaint
from kehu.config import Settings, get_settings
from kehu.customers.changes import creation_row
from kehu.customers.models import Contact, Customer, History
from kehu.db import Database, migration_connection
from kehu.kit.ids import new_id
from kehu.orders.models import Order, Payment, PaymentPlan
from kehu.reports import cubes
from kehu.runtime import Kehu
from kehu.security.passwords import hash_password
from kehu.setup import alembic_config, expected_schema, revision_schemas, schema_of
from tests.conftest import ENGINES, pg_database
from tests.fixtures.sql import statements
from tests.fixtures.world import id_number
from tests.test_migrations import schema_diff

OLD = "0006"
#: what the built-in roles held in a store made at revision 0006 (before the packages' capabilities)
OLD_CAPABILITIES = {"admin": "manage_users,manage_roles,manage_catalog", "auditor": "read_audit",
                    "info_manager": "manage_products,manage_pool,manage_lead_stages,manage_surveys",
                    "dept_head": "", "staff": ""}
#: tables written at revision 0006, whose rows the upgrade must keep (audit_log only grows)
KEPT = ("roles", "grants", "departments", "users", "customers", "contacts", "customer_history", "orders",
        "payment_plans", "payments", "complaints")


@pytest.fixture(params=ENGINES)
def url(request, fast_tmp):
    """An empty database on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{fast_tmp / uuid.uuid4().hex}.db"
        return
    with pg_database(request.getfixturevalue("pg_server")) as empty:
        yield empty


@dataclass
class Old:
    """What the store held before the upgrade."""

    counts: dict[str, int]
    id_numbers: dict[str, str]  # customer id → plaintext 身份证号 (level 1, sealed)
    custom_role_capabilities: str


def alembic(url: str, *steps: tuple[str, str]) -> None:
    """Run alembic commands (upgrade/stamp to a revision) on a store, in one transaction."""
    with migration_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        for step, revision in steps:
            getattr(command, step)(cfg, revision)


def runtime(url: str, keys, tmp_path) -> Kehu:
    """The runtime over the store (nothing in it reads a table when built)."""
    return Kehu(Settings(database_url=url, var_dir=tmp_path / "var"), keys=keys, db=Database(url))


def populate(kehu: Kehu) -> Old:
    """Rows as a store of revision 0006 held them: roles, departments, users, archives with contacts and history,
    contracts with plans and payments, a complaint, and audit entries."""
    ids: dict[str, str] = {}
    with kehu.db.transaction() as s:
        roles = {}
        for code, spec in DEFAULT_ROLES.items():
            roles[code] = Role(id=new_id(), code=code, name=spec["name"], scope=spec["scope"], builtin=True,
                               capabilities=OLD_CAPABILITIES[code])
            roles[code].grants = [Grant(action=a, level=lv) for a, lvs in spec["grants"].items() for lv in lvs]
        roles["custom"] = Role(id=new_id(), code="product_desk", name="产品专员", scope="own",
                               capabilities="manage_products")
        s.add_all(roles.values())
        hq, east = new_id(), new_id()
        s.add(Department(id=hq, name="总公司", path=f"/{hq}/"))
        s.flush()
        s.add(Department(id=east, name="华东组", parent_id=hq, path=f"/{hq}/{east}/"))
        users = {}
        for name, role in (("admin", "admin"), ("info", "info_manager"), ("alice", "staff"), ("audit", "auditor"),
                           ("pd", "custom")):
            users[name] = new_id()
            s.add(User(id=users[name], username=name, display_name=name, password_hash=hash_password("Old-store-1a"),
                       role_id=roles[role].id, department_id=east if role == "staff" else hq))
        s.flush()
        places = [("广东省", "广州市"), ("浙江省", "杭州市"), ("北京市", "北京市"), (None, None)]
        for i in range(6):
            cid = new_id()
            vault = Vault.new(kehu.crypto, customer_id=cid)
            number = id_number(i + 1)
            ids[cid] = number
            created = datetime(2025, 3 + i, 10, 8, tzinfo=timezone.utc)
            province, city = places[i % len(places)]
            s.add(Customer(
                id=cid, archive_no=f"KH2025{i + 1:06d}", kind="individual", name=f"客户{i}", gender="MF"[i % 2],
                id_number=vault.seal(number, table="customers", field="id_number", row_id=cid),
                id_number_bi=kehu.crypto.blind_index("id_number", number),
                mobile=vault.seal(f"1380013800{i}", table="customers", field="mobile", row_id=cid),
                mobile_bi=kehu.crypto.blind_index("mobile", f"1380013800{i}"), province=province, city=city,
                source_channel="visit", importance=("normal", "core", "key")[i % 3],
                status="archived" if i == 5 else "active", owner_id=users["alice"], department_id=east,
                created_at=created, updated_at=created + timedelta(days=40 if i == 5 else 0),
                created_by=users["alice"], dek=vault.wrapped))
            s.flush()
            kid = new_id()
            s.add(Contact(id=kid, customer_id=cid, name=f"联系人{i}", is_primary="yes",
                          mobile=vault.seal(f"1390013900{i}", table="contacts", field="mobile", row_id=kid),
                          mobile_bi=kehu.crypto.blind_index("mobile", f"1390013900{i}")))
            s.add(History(**creation_row(customer_id=cid, reason="建档", changed_by=users["alice"], changed_at=created)))
            if i < 3:
                oid = new_id()
                s.add(Order(id=oid, customer_id=cid, order_no=f"HT2025{i + 1:06d}", status="signed",
                            total_amount=Decimal("12000.00"), created_at=created, updated_at=created))
                s.flush()
                s.add(PaymentPlan(id=new_id(), order_id=oid, due_on=date(2025, 6 + i, 1), amount=Decimal("6000.00")))
                s.add(PaymentPlan(id=new_id(), order_id=oid, due_on=date(2025, 9 + i, 1), amount=Decimal("6000.00")))
                s.add(Payment(id=new_id(), order_id=oid, paid_on=date(2025, 6 + i, 3), amount=Decimal("6000.00"),
                              method="transfer"))
            if i == 1:
                s.add(Complaint(id=new_id(), customer_id=cid, complaint_no="TS2025000001", kind="service",
                                channel="phone", urgency="normal", received_on=date(2025, 5, 2), content="上门迟到",
                                status="registered", responsible_department_id=east, created_at=created,
                                updated_at=created))
            kehu.audit.stage(s, action="customer.create", actor_id=users["alice"], actor_name="alice",
                             target_type="customer", target_id=cid, customer_no=f"KH2025{i + 1:06d}")
        kehu.audit.stage(s, action="admin.role.create", actor_name="admin", target_type="role",
                         target_id="product_desk")
    return Old(counts=_counts(kehu), id_numbers=ids, custom_role_capabilities="manage_products")


def _counts(kehu: Kehu) -> dict[str, int]:
    with kehu.db.engine.connect() as c:
        return {t: c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in KEPT + ("audit_log",)}


def _revision(url: str) -> str | None:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return MigrationContext.configure(c).get_current_revision()
    finally:
        eng.dispose()


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@pytest.fixture
def old_store(url, keys, tmp_path):
    """A store made at revision 0006 and filled as it was then."""
    alembic(url, ("upgrade", OLD))
    kehu = runtime(url, keys, tmp_path)
    old = populate(kehu)
    yield url, kehu, old
    kehu.db.engine.dispose()


def kehu_init(url: str, keys, tmp_path, monkeypatch, command_line=("init", "--admin-password", "Upgrade-test-1a")):
    """`kehu init` (or another command) on the store: the product's upgrade path (migrations, built-in roles)."""
    monkeypatch.setenv("KEHU_DATABASE_URL", url)
    monkeypatch.setenv("KEHU_KEYS", keys.to_json())
    monkeypatch.setenv("KEHU_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(command_line))
    finally:
        get_settings.cache_clear()


def assert_upgraded(kehu: Kehu, old: Old) -> None:
    """Head schema, no difference from the models, data kept and readable, cells equal a rebuild, roles synced."""
    assert _revision(kehu.db.url) == _head()
    engine: Engine = kehu.db.engine
    with engine.connect() as conn:
        assert expected_schema(conn.dialect.name) - schema_of(conn) == set()
        assert schema_diff(conn) == []
        assert {f"trigger {t.name}" for t in cubes.triggers(cubes.Dialect(conn.dialect.name))} <= schema_of(conn)
        assert cubes.check(conn) == {}
        conn.rollback()
        grown = conn.exec_driver_sql("SELECT sum(customers) FROM report_growth_cells").scalar()
        balances = conn.exec_driver_sql("SELECT count(*) FROM report_order_balances").scalar()
    assert (grown, balances) == (len(old.id_numbers), old.counts["orders"])  # cells of the customers from before 0007
    counts = _counts(kehu)
    assert {t: counts[t] for t in KEPT} == {t: old.counts[t] for t in KEPT}
    assert counts["audit_log"] > old.counts["audit_log"]
    with kehu.db.reader() as s:
        for row in s.execute(select(Customer.id, Customer.dek, Customer.id_number, Customer.id_number_bi)):
            vault = Vault(kehu.crypto, customer_id=row.id, wrapped_dek=row.dek)
            number = vault.open(row.id_number, table="customers", field="id_number", row_id=row.id)
            assert number == old.id_numbers[row.id]
            assert row.id_number_bi == kehu.crypto.blind_index("id_number", number)
        assert verify(s, kehu.audit).ok
        roles = {r.code: r.capability_set for r in s.scalars(select(Role))}
        assert set(s.scalars(select(KnownCapability.code))) == set(CAPABILITIES)
        synced = dict(s.execute(select(AuditEntry.target_id, AuditEntry.detail)
                                .where(AuditEntry.action == "admin.role.capabilities")).all())
    for code in DEFAULT_ROLES:  # every default capability reached the built-in roles of the old store
        assert roles[code] >= {c for c, holders in CAPABILITY_HOLDERS.items() if code in holders}, code
    assert roles["product_desk"] == {old.custom_role_capabilities}
    # 审计员 got read_alerts/manage_alarms from migration 0015 itself; the others from the sync, audited
    assert set(synced) == {"admin", "info_manager", "dept_head"}
    assert "manage_consent" in synced["info_manager"]


@pytest.mark.parametrize("command_line", [("init",), ("migrate",)], ids=["kehu-init", "kehu-migrate"])
def test_populated_0006_store_upgrades(old_store, keys, tmp_path, monkeypatch, command_line):
    url, kehu, old = old_store
    result = kehu_init(url, keys, tmp_path, monkeypatch, command_line)
    assert result.exit_code == 0, result.output
    assert_upgraded(kehu, old)
    again = kehu_init(url, keys, tmp_path, monkeypatch, command_line)  # a second run changes nothing
    assert again.exit_code == 0, again.output
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "admin.role.capabilities")) == 3


def _alembic_command_line(url, keys, tmp_path, monkeypatch):
    """`alembic upgrade head` as the command line runs it: migrations/env.py opens the connection."""
    try:
        command.upgrade(alembic_config(url), "head")
    except Exception as exc:  # noqa: BLE001  (reported like CliRunner does)
        return exc
    return None


def _kehu_init_error(url, keys, tmp_path, monkeypatch):
    return kehu_init(url, keys, tmp_path, monkeypatch).exception


@pytest.mark.parametrize("upgrade", [_kehu_init_error, _alembic_command_line], ids=["kehu-init", "alembic"])
def test_an_interrupted_upgrade_leaves_the_old_store_and_reruns(old_store, keys, tmp_path, monkeypatch, upgrade):
    url, kehu, old = old_store

    def power_cut(conn, cursor, statement, *args):
        if "CREATE TABLE approvals" in statement:  # migration 0012, after 0007–0011 ran
            raise RuntimeError("电源中断")

    event.listen(Engine, "before_cursor_execute", power_cut)
    try:
        error = upgrade(url, keys, tmp_path, monkeypatch)
    finally:
        event.remove(Engine, "before_cursor_execute", power_cut)
    assert "电源中断" in str(error)
    assert _revision(url) == OLD
    with kehu.db.engine.connect() as conn:  # nothing of 0007–0011 stayed: DDL was inside the transaction
        tables = {x for x in schema_of(conn) if x.startswith("table ")}
    assert tables == {x for x in dict(revision_schemas())[OLD] if x.startswith("table ")}
    assert _counts(kehu) == old.counts
    result = kehu_init(url, keys, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert_upgraded(kehu, old)


@pytest.mark.parametrize("ran, dropped", [(OLD, ()), ("0009", ("order_attachments",))])
def test_a_store_stamped_ahead_of_its_tables_is_upgraded_from_what_it_has(old_store, keys, tmp_path, monkeypatch,
                                                                          ran, dropped):
    """Revisions 0007–0017 were first published empty: a store upgraded then says 0017 (0018 after the next
    upgrade) without their tables. Some had been filled by then (0009 here, while 0008 was still empty)."""
    url, kehu, old = old_store
    alembic(url, ("upgrade", ran))
    with kehu.db.engine.begin() as conn:
        for table in dropped:
            conn.exec_driver_sql(f"DROP TABLE {table}")
    alembic(url, ("stamp", "0018"))
    result = kehu_init(url, keys, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert_upgraded(kehu, old)


def test_the_foreign_key_check_runs_only_when_a_revision_ran(fast_tmp):
    """`kehu init` on an up-to-date store applies nothing, so it does not re-check every foreign key of a
    large file (minutes on a 30 GB store); an upgrade that ran revisions does."""
    from kehu.setup import migrate

    url = f"sqlite:///{fast_tmp / uuid.uuid4().hex}.db"
    with statements() as seen:
        db = Database(url)
        migrate(db.engine)
        assert any("foreign_key_check" in s for s in seen)
        seen.clear()
        migrate(db.engine)
        assert seen and not any("foreign_key_check" in s for s in seen)
        db.engine.dispose()


def _store_at_0021_with(fast_tmp, orphan: str) -> str:
    """A SQLite store at revision 0021 with one order line and one row whose parent is missing."""
    import sqlite3

    path = fast_tmp / f"{uuid.uuid4().hex}.db"
    url = f"sqlite:///{path}"
    with migration_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0021")
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA foreign_keys=OFF")

    def row(table: str, **values) -> str:  # every required column filled with a plain value of its type
        values.setdefault("id", new_id())
        for _cid, name, kind, notnull, default, _pk in raw.execute(f"PRAGMA table_info({table})").fetchall():
            if notnull and default is None and name not in values:
                kind = kind.upper()
                values[name] = ("2026-11-01 00:00:00.000000" if "DATETIME" in kind else "2026-11-01" if "DATE" in kind
                                else 1 if any(k in kind for k in ("INT", "NUM", "BOOL")) else "x")
        raw.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()))
        return values["id"]
    cust = row("customers")
    line = row("product_lines")
    product = row("products", line_id=line)
    order = row("orders", customer_id=cust)
    row("order_items", order_id=order, product_id="missing" if orphan == "order_items" else product)
    if orphan == "followups":
        row("followups", customer_id="missing")
    raw.commit()
    raw.close()
    return url


def test_a_revision_that_names_its_rebuilt_tables_checks_only_their_foreign_keys(fast_tmp):
    """0022 rewrites order_items only: the upgrade checks that table's foreign keys (a full check read a
    36 GB store for over 15 minutes), fills each line's customer from its order, and still refuses to commit
    a line whose product is missing."""
    from kehu.setup import migrate

    url = _store_at_0021_with(fast_tmp, "followups")  # an old orphan elsewhere is not this upgrade's business
    with statements() as seen:
        db = Database(url)
        migrate(db.engine)
    checks = [s for s in seen if "foreign_key_check" in s]
    assert sorted(checks) == [f'PRAGMA foreign_key_check("{t}")'  # 0022's table, 0023's, 0025's (0024 rebuilt none)
                              for t in ("customer_grades", "customer_tags", "order_items", "segments")]
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0025"
        assert {r[0] for r in conn.exec_driver_sql("PRAGMA foreign_key_check")} == {"followups"}  # left alone
        assert conn.exec_driver_sql("SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id "
                                    "WHERE i.customer_id = o.customer_id").scalar() == 1
    db.engine.dispose()

    url = _store_at_0021_with(fast_tmp, "order_items")
    db = Database(url)
    with pytest.raises(Exception, match="外键"):
        migrate(db.engine)
    with db.engine.connect() as conn:  # rolled back as a whole
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0021"
        assert "customer_id" not in {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(order_items)")}
    db.engine.dispose()


def test_the_quality_snapshot_revision_adds_a_table_and_checks_no_foreign_key(fast_tmp):
    """0024 only creates the small `tag_quality_snapshots` table: upgrading a (38 GB) store at 0023 reads no
    existing row — no foreign-key check, no table rebuilt."""
    from kehu.setup import migrate

    url = f"sqlite:///{fast_tmp / uuid.uuid4().hex}.db"
    with migration_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0023")
    with statements() as seen:
        db = Database(url)
        migrate(db.engine)
    # (0025 after it copies the small `segments` table: its own rows, its own foreign-key check)
    assert not any("foreign_key_check" in s and "segments" not in s for s in seen)
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                   and "alembic_version" not in s and "segments" not in s for s in seen)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0025"
        assert conn.exec_driver_sql("SELECT count(*) FROM tag_quality_snapshots").scalar() == 0
    db.engine.dispose()
