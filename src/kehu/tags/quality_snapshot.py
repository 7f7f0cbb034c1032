"""Stored tag quality figures (`tag_quality_snapshots`): counted by a full evaluation or a check, read by the dashboard.

Holders, changes in 30 days, contradictions and exclusive-group conflicts read every held tag and, for the
contradictions, the orders of every holder: 37 s on 1M customers with 6.3M tags, not a page. They are counted
(a) at the end of a full evaluation, which holds every customer's aggregates in its frame (a temporary table):
the contradiction rules' needs are added to that frame and the rules read it there; (b) by a check (立即检查:
web page, API, `kehu tags quality`), which counts in a read transaction of its own — never under the store's
write lock for half a minute — and writes the row in a short one (`measure_check`, then `save_check`).
The review counts, error rate and usage stay live on the dashboard: they read small tables.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, and_, case, cast, func, insert, literal, select
from sqlalchemy.orm import Session

from kehu.access.policy import require_capability
from kehu.catalog.registry import Catalog
from kehu.customers.models import Customer
from kehu.db import utcnow
from kehu.errors import Conflict
from kehu.kit.ids import new_id
from kehu.runtime import Ctx
from kehu.tags import builtin
from kehu.tags.compiler import Compiled, Env, check, condition, frame_select
from kehu.tags.engine import env_for, temp_table
from kehu.tags.language import RuleError
from kehu.tags.models import CustomerTag, Tag, TagHistory, TagQualitySnapshot
from kehu.tags.service import today

CHANGE_DAYS = 30
#: snapshots kept (newest `computed_at` first): the dashboard reads the newest; a check that started before a
#: full evaluation and committed after it must not hide the evaluation's newer figures
KEEP = 5
WORD_BITS = 62  # bits of a signed 64-bit sum used to count a customer's tags of several groups at once

_checking = threading.Lock()  # one check at a time in a process: each reads the whole store


@dataclass
class ContradictionRule:
    """A tag's contradiction rule, compiled (None when its text no longer compiles, e.g. a removed field)."""

    tag_id: str
    code: str
    compiled: Compiled | None


def may_view(ctx: Ctx) -> None:
    """The dashboard's right: `manage_tags` or `review_tags` (Forbidden otherwise)."""
    if not ctx.principal.has("manage_tags"):
        require_capability(ctx.principal, "review_tags")


def contradiction_rules(session: Session, env: Env) -> list[ContradictionRule]:
    """Every tag's contradiction rule, compiled against `env`; a rule that fails to compile is kept, uncounted."""
    out = []
    for tid, code, text in session.execute(select(Tag.id, Tag.code, Tag.contradiction)
                                           .where(Tag.contradiction.is_not(None)).order_by(Tag.code)):
        try:
            compiled = check(text, env)
        except RuleError:  # never stops an evaluation: shown as 矛盾规则无效 on the dashboard
            compiled = None
        out.append(ContradictionRule(tid, code, compiled))
    return out


def frame_needs(rules: list[ContradictionRule]) -> list[Compiled]:
    """The rules a full evaluation's frame must also serve (those reading stored grades are counted after it)."""
    return [r.compiled for r in rules if r.compiled is not None and not r.compiled.grades]


def count_contradictions(session: Session, env: Env, rules: list[ContradictionRule], *,
                         frame=None) -> dict[str, int | None]:
    """Holders of each tag (by id) for whom its contradiction rule is true; None for a rule that does not compile.

    With `frame` (a full evaluation's temporary table of every customer) the rules of `frame_needs` read it;
    the others read one frame of the tags' holders computed here (as the live dashboard did: a frame per
    rule over every customer had taken 28 s on 1M customers). One statement per frame; a customer's holding
    is tested only where the rule is true, against the tag's holders read once (`IN`: SQLite builds a small
    index of them, PostgreSQL hashes them — a probe of customer_tags per customer was 1.3 s slower on 1M).
    """
    out: dict[str, int | None] = {r.tag_id: None for r in rules if r.compiled is None}
    here, rest = [], []  # read from `frame` (= frame_needs), from a frame of the holders
    for r in rules:
        if r.compiled is not None:
            (here if frame is not None and not r.compiled.grades else rest).append(r)
    ct = CustomerTag.__table__
    if rest:
        holders = select(ct.c.customer_id).where(ct.c.tag_id.in_([r.tag_id for r in rest])).distinct()
        fr = frame_select([r.compiled for r in rest], env.as_of, customer_ids=holders).subquery("fr")
        out.update(_count(session, env, rest, fr))
    if here:
        out.update(_count(session, env, here, frame))
    return out


def _count(session: Session, env: Env, rules: list[ContradictionRule], fr) -> dict[str, int]:
    ct = CustomerTag.__table__
    sums = [func.coalesce(func.sum(case((and_(condition(r.compiled, fr, env), fr.c.customer_id.in_(
        select(ct.c.customer_id).where(ct.c.tag_id == r.tag_id))), 1), else_=0)), 0) for r in rules]
    row = session.execute(select(*sums).select_from(fr)).one()
    return {r.tag_id: int(n) for r, n in zip(rules, row)}


@dataclass
class Groups:
    """The exclusive groups packed into 62-bit words, and a temporary table of each grouped tag's weight.

    Each held tag of a group adds its group's unit (1 << shift) to the customer's sum `x<word>`; each group has
    bits enough to count all of its tags, so a customer's count in a group is `(x >> shift) & (2^width - 1)`.
    """

    layout: list[tuple[str, int, int, int]]  # (group, word, shift, width)
    weights: Table

    @property
    def words(self) -> int:
        """Number of 62-bit sums per customer."""
        return max(at for _g, at, _s, _w in self.layout) + 1

    def sums(self) -> list:
        """`x<word>`: a customer's sums of its held tags' weights (in a query grouped by customer)."""
        return [cast(func.sum(self.weights.c[f"w{n}"]), BigInteger).label(f"x{n}") for n in range(self.words)]

    def count(self, conn, per) -> list[dict[str, Any]]:
        """Per group having any, the customers of `per` (customer_id, x0, x1 …) holding two or more of its tags."""
        row = conn.execute(select(*[func.coalesce(func.sum(case((
            per.c[f"x{at}"].bitwise_rshift(literal(shift, Integer)).bitwise_and((1 << width) - 1) > 1, 1),
            else_=0)), 0) for _grp, at, shift, width in self.layout])).one()
        return [{"group": grp, "customers": int(n)} for (grp, *_), n in zip(self.layout, row) if n]

    def drop(self, conn) -> None:
        """Remove the weights' temporary table."""
        self.weights.drop(conn)


def group_weights(session: Session) -> Groups | None:
    """The exclusive groups' layout and weights (a temporary table on the session's connection); None when no
    tag has a group."""
    groups: dict[str, list[str]] = {}
    for tid, grp in session.execute(select(Tag.id, Tag.exclusive_group).where(Tag.exclusive_group.is_not(None))
                                    .order_by(Tag.exclusive_group, Tag.id)):
        groups.setdefault(grp, []).append(tid)
    if not groups:
        return None
    layout: list[tuple[str, int, int, int]] = []  # (group, word, shift, width)
    word, used = 0, 0
    for grp, tids in groups.items():
        width = len(tids).bit_length()  # a customer holds at most all of the group's tags
        if used + width > WORD_BITS:
            word, used = word + 1, 0
        layout.append((grp, word, used, width))
        used += width
    words = word + 1
    weights = temp_table("tag_group_weights", [Column("tag_id", String(32), primary_key=True)]
                         + [Column(f"w{w}", BigInteger) for w in range(words)])
    conn = session.connection()
    weights.drop(conn, checkfirst=True)  # (a failed statement rolls its transaction back, creation included)
    weights.create(conn)
    conn.execute(insert(weights), [{"tag_id": tid, **{f"w{w}": (1 << shift if w == at else 0) for w in range(words)}}
                                   for grp, at, shift, _width in layout for tid in groups[grp]])
    return Groups(layout, weights)


def group_conflicts(session: Session) -> list[dict[str, Any]]:
    """Customers holding two (or more) tags of one exclusive group, per group having any.

    One scan of customer_tags in key order (customer by customer, no sort) summing the held tags' weights
    (`Groups`). (Grouping by (group, customer) sorted 6.3M pairs: 7 s on 1M customers; this took 3 s. A full
    evaluation does better still: its diff scans customer_tags anyway and sums the weights there.)
    """
    groups = group_weights(session)
    if groups is None:
        return []
    ct, conn = CustomerTag.__table__, session.connection()
    per = (select(ct.c.customer_id, *groups.sums())
           .select_from(ct.join(groups.weights, groups.weights.c.tag_id == ct.c.tag_id))
           .group_by(ct.c.customer_id).subquery("per"))
    try:
        return groups.count(conn, per)
    finally:
        groups.drop(conn)


def measure(session: Session, env: Env, *, at: datetime, frame=None, rules: list[ContradictionRule] | None = None,
            groups: list[dict[str, Any]] | None = None, lap: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The figures at `at`: customers not archived, per tag id [holders, changes, contradictions], group conflicts.

    `frame`: a full evaluation's frame, whose rows are every customer (the total is counted there) and which
    holds the needs of `rules` (`frame_needs`); `groups`: the group conflicts when already counted (by the
    evaluation's diff); `lap`: told when each part is done (the evaluation's timings)."""
    t0 = time.perf_counter()
    ct, th = CustomerTag.__table__, TagHistory.__table__
    if frame is not None:
        total = session.execute(select(func.count()).select_from(frame).where(frame.c.f_status != "archived"))
    else:
        total = session.execute(select(func.count()).select_from(Customer).where(Customer.status != "archived"))
    customers = total.scalar_one() or 0
    since = at - timedelta(days=CHANGE_DAYS)
    # per tag: one range of each index (tag, customer) and (tag, time) — not a grouped scan of the whole history
    held = select(func.count()).select_from(ct).where(ct.c.tag_id == Tag.id).scalar_subquery()
    changed = select(func.count()).select_from(th).where(th.c.tag_id == Tag.id, th.c.at >= since).scalar_subquery()
    counts = {tid: [int(h), int(c)] for tid, h, c in session.execute(select(Tag.id, held, changed))}
    lap("quality.counts")
    if rules is None:
        rules = contradiction_rules(session, env)
    flags = count_contradictions(session, env, rules, frame=frame)
    lap("quality.contradictions")
    tags = {tid: [h, c, flags.get(tid, 0)] for tid, (h, c) in counts.items()}
    if groups is None:
        groups = group_conflicts(session)
        lap("quality.groups")
    return {"computed_at": at.isoformat(), "as_of": env.as_of.isoformat(), "customers": customers, "tags": tags,
            "groups": groups, "duration_ms": round((time.perf_counter() - t0) * 1000)}


def store(session: Session, figures: dict[str, Any], *, trigger: str, actor_id: str | None) -> TagQualitySnapshot:
    """Write a snapshot of `measure`'s figures and keep only the newest `KEEP`."""
    snap = TagQualitySnapshot(id=new_id(), computed_at=datetime.fromisoformat(figures["computed_at"]),
                              as_of=datetime.fromisoformat(figures["as_of"]).date(), trigger=trigger,
                              actor_id=actor_id, duration_ms=int(figures["duration_ms"]),
                              customers=int(figures["customers"]), tags=json.dumps(figures["tags"]),
                              groups=json.dumps([[g["group"], g["customers"]] for g in figures["groups"]],
                                                ensure_ascii=False))
    session.add(snap)
    session.flush()
    ids = session.execute(select(TagQualitySnapshot.id)
                          .order_by(TagQualitySnapshot.computed_at.desc(), TagQualitySnapshot.id.desc())).scalars().all()
    for old in ids[KEEP:]:
        session.delete(session.get(TagQualitySnapshot, old))
    return snap


def latest(session: Session) -> TagQualitySnapshot | None:
    """The snapshot with the newest figures."""
    return session.execute(select(TagQualitySnapshot).order_by(TagQualitySnapshot.computed_at.desc(),
                                                               TagQualitySnapshot.id.desc()).limit(1)).scalar_one_or_none()


def view(session: Session, ctx: Ctx, snap: TagQualitySnapshot) -> dict[str, Any]:
    """A snapshot as the API shows it: when, how, who, how long; per tag code its figures; the conflicts."""
    codes = dict(session.execute(select(Tag.id, Tag.code)).all())
    users, _ = ctx.names(session)
    tags = {codes[tid]: {"holders": h, "changes_30d": c, "contradictions": x}
            for tid, (h, c, x) in json.loads(snap.tags).items() if tid in codes}
    return {"computed_at": snap.computed_at.isoformat(), "as_of": snap.as_of.isoformat(), "trigger": snap.trigger,
            "actor": users.get(snap.actor_id, snap.actor_id) if snap.actor_id else None,
            "seconds": round(snap.duration_ms / 1000, 1), "customers": snap.customers, "tags": tags,
            "groups": [{"group": g, "customers": n} for g, n in json.loads(snap.groups)]}


def measure_check(session: Session, ctx: Ctx) -> dict[str, Any]:
    """立即检查, first half: count the figures now, in the caller's read transaction; `manage_tags` or `review_tags`.

    One check at a time per process (a second gets 409 `check_running`): each reads the whole store."""
    may_view(ctx)
    if not _checking.acquire(blocking=False):
        raise Conflict("标签质量检查正在进行，请稍后刷新页面查看结果", code="check_running")
    try:
        return measure_now(session, ctx.catalog)
    finally:
        _checking.release()


def measure_now(session: Session, catalog: Catalog, *, lap: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The figures now, contradictions as of today (a check, or `kehu tags quality`)."""
    builtin.ensure(session)
    return measure(session, env_for(session, catalog, today()), at=utcnow(), lap=lap)


def save_check(session: Session, ctx: Ctx, *, figures: dict[str, Any]) -> dict[str, Any]:
    """立即检查, second half: store the figures `measure_check` counted (a short write); the snapshot as shown."""
    may_view(ctx)
    snap = store(session, figures, trigger="check", actor_id=ctx.principal.user_id)
    ctx.audit(session, action="tag.quality_check", target_type="tag_quality", target_id=snap.id,
              detail={"customers": snap.customers, "ms": snap.duration_ms})
    return view(session, ctx, snap)
