"""Report cells kept current by database triggers, on SQLite and PostgreSQL alike.

Each cube counts/sums rows of one source table (customers, orders, payment plans, payments,
complaints) per cell; a cell's key is the customer's data scope (department, owner, importance)
plus the report's own dimensions. Triggers apply every insert, update and delete as a delta in
the same transaction — whatever path wrote the row (service, bulk load, import, SQL) — and move
a customer's rows between cells when its owner, department, importance or address changes. So a
report reads a few thousand cells instead of millions of rows, and its scope is the customer's
*current* scope. `rebuild(conn)` recomputes every cube from the base tables (after a restore or a
load with triggers suspended); `check(conn)` compares the cubes with a rebuild (tests, ops).

Amounts are summed as integer cents (no floating drift under +/−); months are local (UTC+8)
calendar months 'YYYY-MM' — an order's month is its start date's, else the day it was entered.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

#: source channels counted as indirect customers (via third parties and referrals; SPEC §6's
#: 直接客户 vs 渠道 relationship type) — everything else is a direct customer
INDIRECT_CHANNELS = ("third_party", "referral")
#: order states that count as sales (a signed contract); drafts, cancelled and terminated do not
SALES_STATUSES = ("signed", "executing", "completed")


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between the engines."""

    name: str

    def month_of_date(self, e: str) -> str:
        return f"substr({e}, 1, 7)" if self.name == "sqlite" else f"to_char({e}, 'YYYY-MM')"

    def month_of_ts(self, e: str) -> str:
        if self.name == "sqlite":
            return f"substr(datetime({e}, '+8 hours'), 1, 7)"
        return f"to_char(({e} AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM')"

    def cents(self, e: str) -> str:
        return f"CAST(round(({e}) * 100) AS {'INTEGER' if self.name == 'sqlite' else 'BIGINT'})"

    def differs(self, col: str) -> str:
        op = "IS NOT" if self.name == "sqlite" else "IS DISTINCT FROM"
        return f"OLD.{col} {op} NEW.{col}"


SCOPE_KEYS = (("department_id", "coalesce({c}.department_id, '')"), ("owner_id", "coalesce({c}.owner_id, '')"),
              ("importance", "{c}.importance"))
#: customer columns the scope and the customer dimensions of cells are made of
CUSTOMER_DIMENSIONS = ("department_id", "owner_id", "importance", "province", "city")


@dataclass(frozen=True)
class Cube:
    """One pre-aggregated table: source rows grouped by the customer's scope plus `keys`."""

    table: str
    source: str  # customers | orders | payment_plans | payments | complaints
    keys: tuple[tuple[str, str], ...]  # (column, expression over {c} the customer and {r} the source row)
    measures: tuple[tuple[str, str], ...]  # (column, expression over {r})
    where: str = "1=1"  # over {r}: rows counted at all
    watch: tuple[str, ...] = ()  # source columns whose change moves a row between cells
    via_order: bool = False  # the source reaches its customer through orders.order_id

    @property
    def columns(self) -> list[str]:
        return [k for k, _ in SCOPE_KEYS] + [k for k, _ in self.keys]


def cubes(d: Dialect) -> list[Cube]:
    """The cubes, with this engine's expressions."""
    indirect = "CASE WHEN {c}.source_channel IN (%s) THEN 1 ELSE 0 END" % ", ".join(f"'{x}'" for x in INDIRECT_CHANNELS)
    created = d.month_of_ts("{c}.created_at")
    removed = f"CASE WHEN {{c}}.status IN ('archived', 'erased') THEN {d.month_of_ts('{c}.updated_at')} ELSE '' END"
    where_province = (("province", "coalesce({c}.province, '')"), ("city", "coalesce({c}.city, '')"))
    sales = "{r}.status IN (%s)" % ", ".join(f"'{s}'" for s in SALES_STATUSES)
    order_month = f"coalesce({d.month_of_date('{r}.start_on')}, {d.month_of_ts('{r}.created_at')})"
    return [
        Cube("report_growth_cells", "customers",
             (("indirect", indirect), ("created_month", created), ("removed_month", removed)), (("customers", "1"),)),
        Cube("report_region_cells", "customers",
             (*where_province, ("created_month", created), ("removed_month", removed)), (("customers", "1"),)),
        Cube("report_sales_cells", "orders", (*where_province, ("month", order_month)),
             (("orders", "1"), ("amount_cents", d.cents("{r}.total_amount"))), where=sales,
             watch=("status", "total_amount", "start_on", "created_at", "customer_id")),
        Cube("report_plan_cells", "payment_plans", (("month", d.month_of_date("{r}.due_on")),),
             (("plans", "1"), ("amount_cents", d.cents("{r}.amount"))), watch=("due_on", "amount", "order_id"),
             via_order=True),
        Cube("report_payment_cells", "payments", (("month", d.month_of_date("{r}.paid_on")),),
             (("payments", "1"), ("amount_cents", d.cents("{r}.amount"))), watch=("paid_on", "amount", "order_id"),
             via_order=True),
        Cube("report_complaint_cells", "complaints",
             (("month", d.month_of_date("{r}.received_on")), ("kind", "{r}.kind"),
              ("handling", "coalesce({r}.handling, '')"),
              ("responsible_department_id", "coalesce({r}.responsible_department_id, '')")),
             (("complaints", "1"), ("closed", "CASE WHEN {r}.status = 'closed' THEN 1 ELSE 0 END"),
              ("loss_cents", d.cents("coalesce({r}.loss_amount, 0)"))),
             watch=("received_on", "kind", "handling", "responsible_department_id", "status", "loss_amount",
                    "customer_id")),
    ]


def _fmt(expr: str, *, c: str, r: str) -> str:
    return expr.replace("{c}", c).replace("{r}", r)


def _upsert(cube: Cube, select: str) -> str:
    cols = cube.columns
    names = [m for m, _ in cube.measures]
    sets = ", ".join(f"{m} = {cube.table}.{m} + excluded.{m}" for m in names)
    return (f"INSERT INTO {cube.table} ({', '.join(cols + names)}) {select} "
            f"ON CONFLICT ({', '.join(cols)}) DO UPDATE SET {sets}")


def _key_exprs(cube: Cube, *, c: str, r: str) -> list[str]:
    return [_fmt(e, c=c, r=r) for _, e in SCOPE_KEYS] + [_fmt(e, c=c, r=r) for _, e in cube.keys]


def row_delta(cube: Cube, row: str, sign: int) -> str:
    """Add (+1) or take away (−1) one source row (NEW / OLD) to/from its cell."""
    if cube.source == "customers":
        keys = _key_exprs(cube, c=row, r=row)
        meas = [f"{sign} * ({_fmt(e, c=row, r=row)})" for _, e in cube.measures]
        return _upsert(cube, f"SELECT {', '.join(keys + meas)} WHERE 1=1")
    keys = _key_exprs(cube, c="c", r=row)
    meas = [f"{sign} * ({_fmt(e, c='c', r=row)})" for _, e in cube.measures]
    cond = _fmt(cube.where, c="c", r=row)
    if cube.via_order:
        src = f"FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = {row}.order_id AND {cond}"
    else:
        src = f"FROM customers c WHERE c.id = {row}.customer_id AND {cond}"
    return _upsert(cube, f"SELECT {', '.join(keys + meas)} {src}")


def customer_move(cube: Cube, cust: str, sign: int) -> str:
    """Add/take away every source row of one customer (its cells as seen with `cust` = NEW / OLD)."""
    keys = _key_exprs(cube, c=cust, r="s")
    meas = [f"sum({sign} * ({_fmt(e, c=cust, r='s')}))" for _, e in cube.measures]
    cond = _fmt(cube.where, c=cust, r="s")
    if cube.via_order:
        src = f"FROM {cube.source} s JOIN orders o ON o.id = s.order_id WHERE o.customer_id = {cust}.id AND {cond}"
    else:
        src = f"FROM {cube.source} s WHERE s.customer_id = {cust}.id AND {cond}"
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return _upsert(cube, f"SELECT {', '.join(keys + meas)} {src} GROUP BY {group}")


def order_move(cube: Cube, order: str, sign: int) -> str:
    """Take away every plan/payment row of one order (before the order itself is deleted)."""
    keys = _key_exprs(cube, c="c", r="s")
    meas = [f"sum({sign} * ({_fmt(e, c='c', r='s')}))" for _, e in cube.measures]
    src = (f"FROM {cube.source} s JOIN customers c ON c.id = {order}.customer_id "
           f"WHERE s.order_id = {order}.id AND {_fmt(cube.where, c='c', r='s')}")
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return _upsert(cube, f"SELECT {', '.join(keys + meas)} {src} GROUP BY {group}")


def rebuild_sql(cube: Cube) -> str:
    """INSERT … SELECT of the whole cube from the base tables."""
    keys = _key_exprs(cube, c="c", r="s" if cube.source != "customers" else "c")
    r = "c" if cube.source == "customers" else "s"
    meas = [f"sum({_fmt(e, c='c', r=r)})" for _, e in cube.measures]
    if cube.source == "customers":
        src = "FROM customers c WHERE 1=1"
    elif cube.via_order:
        src = f"FROM {cube.source} s JOIN orders o ON o.id = s.order_id JOIN customers c ON c.id = o.customer_id " \
              f"WHERE {_fmt(cube.where, c='c', r='s')}"
    else:
        src = f"FROM {cube.source} s JOIN customers c ON c.id = s.customer_id WHERE {_fmt(cube.where, c='c', r='s')}"
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    cols = cube.columns + [m for m, _ in cube.measures]
    return f"INSERT INTO {cube.table} ({', '.join(cols)}) SELECT {', '.join(keys + meas)} {src} GROUP BY {group}"


# --- order balances (overdue receivables) ---------------------------------------------------------

def _balance_refresh(d: Dialect, order_id: str) -> str:
    """Recompute one order's planned/paid totals, last payment day and first uncovered plan (FIFO)."""
    paid = f"(SELECT coalesce(sum({d.cents('y.amount')}), 0) FROM payments y WHERE y.order_id = {order_id})"
    first = (f"(SELECT min(p.due_on) FROM payment_plans p WHERE p.order_id = {order_id} AND "
             f"(SELECT sum({d.cents('q.amount')}) FROM payment_plans q WHERE q.order_id = {order_id} AND "
             f"(q.due_on < p.due_on OR (q.due_on = p.due_on AND q.id <= p.id))) > {paid})")
    return (f"UPDATE report_order_balances SET "
            f"planned_cents = (SELECT coalesce(sum({d.cents('x.amount')}), 0) FROM payment_plans x "
            f"WHERE x.order_id = {order_id}), paid_cents = {paid}, "
            f"last_paid_on = (SELECT max(z.paid_on) FROM payments z WHERE z.order_id = {order_id}), "
            f"last_due_on = (SELECT max(w.due_on) FROM payment_plans w WHERE w.order_id = {order_id}), "
            f"first_unpaid_due_on = {first} WHERE order_id = {order_id}")


def _balance_insert(row: str) -> str:
    keys = ", ".join(_fmt(e, c="c", r=row) for _, e in SCOPE_KEYS)
    return (f"INSERT INTO report_order_balances (order_id, customer_id, department_id, owner_id, importance, "
            f"status, planned_cents, paid_cents) SELECT {row}.id, {row}.customer_id, {keys}, {row}.status, 0, 0 "
            f"FROM customers c WHERE c.id = {row}.customer_id")


def balances_rebuild_sql(d: Dialect) -> str:
    """INSERT … SELECT of every order's balance (window function for the FIFO point)."""
    keys = ", ".join(_fmt(e, c="c", r="o") for _, e in SCOPE_KEYS)
    return f"""
INSERT INTO report_order_balances (order_id, customer_id, department_id, owner_id, importance, status,
  planned_cents, paid_cents, last_paid_on, last_due_on, first_unpaid_due_on)
WITH plan AS (SELECT order_id, sum({d.cents('amount')}) AS planned, max(due_on) AS last FROM payment_plans
  GROUP BY order_id),
paid AS (SELECT order_id, sum({d.cents('amount')}) AS paid, max(paid_on) AS last FROM payments GROUP BY order_id),
run AS (SELECT order_id, due_on,
  sum({d.cents('amount')}) OVER (PARTITION BY order_id ORDER BY due_on, id ROWS UNBOUNDED PRECEDING) AS cum
  FROM payment_plans),
first AS (SELECT run.order_id, min(run.due_on) AS due_on FROM run LEFT JOIN paid ON paid.order_id = run.order_id
  WHERE run.cum > coalesce(paid.paid, 0) GROUP BY run.order_id)
SELECT o.id, o.customer_id, {keys}, o.status, coalesce(plan.planned, 0), coalesce(paid.paid, 0), paid.last,
  plan.last, first.due_on
FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN plan ON plan.order_id = o.id
LEFT JOIN paid ON paid.order_id = o.id LEFT JOIN first ON first.order_id = o.id"""


# --- triggers ------------------------------------------------------------------------------------------

@dataclass
class Trigger:
    """One row trigger: its table, timing/event, an optional condition and its statements."""

    name: str
    table: str
    when: str  # "AFTER INSERT" | "AFTER UPDATE" | "BEFORE DELETE" | "AFTER DELETE"
    body: list[str] = field(default_factory=list)
    condition: str | None = None


def triggers(d: Dialect) -> list[Trigger]:
    """Every trigger keeping the cubes and balances current."""
    all_cubes = cubes(d)
    own = [c for c in all_cubes if c.source == "customers"]
    children = [c for c in all_cubes if c.source != "customers"]
    out: list[Trigger] = []
    cust_watch = ("department_id", "owner_id", "importance", "province", "city", "source_channel", "status",
                  "created_at")
    archived_touch = (f"(NEW.status IN ('archived', 'erased') AND {d.differs('updated_at')})")
    out.append(Trigger("rpt_customers_ins", "customers", "AFTER INSERT", [row_delta(c, "NEW", 1) for c in own]))
    out.append(Trigger("rpt_customers_upd", "customers", "AFTER UPDATE",
                       [row_delta(c, "OLD", -1) for c in own] + [row_delta(c, "NEW", 1) for c in own],
                       " OR ".join([d.differs(col) for col in cust_watch] + [archived_touch])))
    moves = [customer_move(c, "OLD", -1) for c in children] + [customer_move(c, "NEW", 1) for c in children]
    keys = ", ".join(f"{k} = {_fmt(e, c='NEW', r='NEW')}" for k, e in SCOPE_KEYS)
    moves.append(f"UPDATE report_order_balances SET {keys} WHERE customer_id = NEW.id")
    out.append(Trigger("rpt_customers_move", "customers", "AFTER UPDATE", moves,
                       " OR ".join(d.differs(col) for col in CUSTOMER_DIMENSIONS)))
    # before the row goes: cascaded deletes of its orders, plans… no longer find the customer
    out.append(Trigger("rpt_customers_del", "customers", "BEFORE DELETE",
                       [row_delta(c, "OLD", -1) for c in own] + [customer_move(c, "OLD", -1) for c in children]))
    for source in ("orders", "payment_plans", "payments", "complaints"):
        mine = [c for c in children if c.source == source]
        watch = sorted({w for c in mine for w in c.watch})
        short = source.replace("payment_", "p")
        ins = [row_delta(c, "NEW", 1) for c in mine]
        upd = [row_delta(c, "OLD", -1) for c in mine] + [row_delta(c, "NEW", 1) for c in mine]
        dele = [row_delta(c, "OLD", -1) for c in mine]
        if source == "orders":
            ins.append(_balance_insert("NEW"))
            upd.append("UPDATE report_order_balances SET status = NEW.status WHERE order_id = NEW.id")
            watch = sorted(set(watch) | {"status"})
            via = [c for c in children if c.via_order]
            out.append(Trigger("rpt_orders_del_children", "orders", "BEFORE DELETE",
                               [order_move(c, "OLD", -1) for c in via]))
            dele.append("DELETE FROM report_order_balances WHERE order_id = OLD.id")
        if source in ("payment_plans", "payments"):
            ins.append(_balance_refresh(d, "NEW.order_id"))
            upd += [_balance_refresh(d, "OLD.order_id"), _balance_refresh(d, "NEW.order_id")]
            dele.append(_balance_refresh(d, "OLD.order_id"))
        out.append(Trigger(f"rpt_{short}_ins", source, "AFTER INSERT", ins))
        out.append(Trigger(f"rpt_{short}_upd", source, "AFTER UPDATE", upd,
                           " OR ".join(d.differs(w) for w in watch)))
        out.append(Trigger(f"rpt_{short}_del", source, "AFTER DELETE", dele))
    return out


def create_statements(d: Dialect) -> list[str]:
    """DDL creating every trigger on this engine."""
    out = []
    for t in triggers(d):
        if d.name == "sqlite":
            cond = f" WHEN {t.condition}" if t.condition else ""
            body = "".join(f"  {s};\n" for s in t.body)
            out.append(f"CREATE TRIGGER {t.name} {t.when} ON {t.table} FOR EACH ROW{cond}\nBEGIN\n{body}END")
        else:
            stmts = "".join(f"    {s};\n" for s in t.body)
            if t.condition:
                stmts = f"  IF {t.condition} THEN\n{stmts}  END IF;\n"
            ret = "OLD" if t.when.startswith("BEFORE") else "NULL"
            out.append(f"CREATE FUNCTION {t.name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{stmts}"
                       f"  RETURN {ret};\nEND\n$$")
            out.append(f"CREATE TRIGGER {t.name} {t.when} ON {t.table} FOR EACH ROW EXECUTE FUNCTION {t.name}()")
    return out


def drop_statements(d: Dialect) -> list[str]:
    """DDL removing every trigger of the cubes."""
    out = []
    for t in triggers(d):
        out.append(f"DROP TRIGGER IF EXISTS {t.name}" + ("" if d.name == "sqlite" else f" ON {t.table}"))
        if d.name != "sqlite":
            out.append(f"DROP FUNCTION IF EXISTS {t.name}()")
    return out


TABLES = ("report_growth_cells", "report_region_cells", "report_sales_cells", "report_plan_cells",
          "report_payment_cells", "report_complaint_cells", "report_order_balances")


def install(conn: Connection) -> None:
    """Create the triggers and fill the cubes from the base tables (migration 0007)."""
    d = Dialect(conn.dialect.name)
    for stmt in create_statements(d):
        conn.exec_driver_sql(stmt)
    rebuild(conn)


def uninstall(conn: Connection) -> None:
    """Remove the triggers (the tables are dropped by the migration)."""
    for stmt in drop_statements(Dialect(conn.dialect.name)):
        conn.exec_driver_sql(stmt)


def rebuild(conn: Connection) -> dict[str, int]:
    """Recompute every cube and balance from the base tables; cells per table."""
    d = Dialect(conn.dialect.name)
    for table in TABLES:
        conn.exec_driver_sql(f"DELETE FROM {table}")
    for cube in cubes(d):
        conn.exec_driver_sql(rebuild_sql(cube))
    conn.exec_driver_sql(balances_rebuild_sql(d))
    return {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() or 0 for t in TABLES}


def snapshot(conn: Connection) -> dict[str, set[tuple]]:
    """Every non-empty cell and every balance, as comparable tuples."""
    d = Dialect(conn.dialect.name)
    out = {}
    for cube in cubes(d):
        measures = [m for m, _ in cube.measures]
        nonzero = " OR ".join(f"{m} <> 0" for m in measures)
        rows = conn.exec_driver_sql(f"SELECT {', '.join(cube.columns + measures)} FROM {cube.table} WHERE {nonzero}")
        out[cube.table] = {tuple(r) for r in rows}
    rows = conn.exec_driver_sql("SELECT order_id, customer_id, department_id, owner_id, importance, status, "
                                "planned_cents, paid_cents, last_paid_on, last_due_on, first_unpaid_due_on "
                                "FROM report_order_balances")
    out["report_order_balances"] = {tuple(str(v) if v is not None else None for v in r) for r in rows}
    return out


def check(conn: Connection) -> dict[str, tuple[set, set]]:
    """Differences between the cubes and a rebuild (inside a savepoint that is rolled back): {table: (stale, fresh)}."""
    before = snapshot(conn)
    tx = conn.begin_nested()
    try:
        rebuild(conn)
        after = snapshot(conn)
    finally:
        tx.rollback()
    return {t: (before[t] - after[t], after[t] - before[t]) for t in before if before[t] != after[t]}
