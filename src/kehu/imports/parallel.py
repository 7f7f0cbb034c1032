"""Validation and encryption of import rows in worker processes; the one writer stays in the main process.

A worker runs `customers.bulk.Bulk.prepare` (the checks of `service.create`: catalogue validation,
archive rules, references, rights, scope) and `Bulk.seal` (data key, sealed values, blind indexes,
pinyin keys, history row) for a chunk of rows and returns the stored form. The main process keeps
what needs the database and the order of the file: the exact-duplicate check, archive numbers, the
INSERTs and the checkpoint. Workers are separate processes (spawned: no inherited connections), so
they can memoise pure, deterministic validator steps for themselves:
  * phonenumbers accepts an 11-digit Chinese mobile by its first 5 digits (the rest is \\d{6}): a valid
    verdict is remembered per 5-digit head, an invalid one is always asked again;
  * stdnum's birth-place table lookup depends only on the area code;
  * email-validator's domain check depends only on the domain (a plain dot-atom local part is
    accepted and kept as typed by email-validator too; anything else goes through it whole);
  * pinyin keys per word of pypinyin's own segmentation.
Results are identical to the unmemoised functions (tests/imports/test_parallel.py compares them).
"""
from __future__ import annotations

import os
import re
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from typing import Any

from kehu.errors import FieldError

_STATE: dict[str, Any] = {}
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MOBILE = re.compile(r"1\d{10}")


def workers_wanted() -> int:
    """Worker processes to use: KEHU_IMPORT_WORKERS, else the number of cores (0 = no workers)."""
    value = os.environ.get("KEHU_IMPORT_WORKERS")
    return int(value) if value is not None else (os.cpu_count() or 1)


def install_memos() -> None:
    """Memoise the pure validator steps in this (worker) process only."""
    import email_validator

    from kehu.kit import validate as v

    plain_mobile = v.mobile
    valid_heads: set[str] = set()

    def mobile(value: object) -> str:
        if isinstance(value, str) and _MOBILE.fullmatch(value):
            if value[:5] in valid_heads:
                return value
            result = plain_mobile(value)  # raises for an invalid number: only valid verdicts are remembered
            valid_heads.add(value[:5])
            return result
        return plain_mobile(value)

    from stdnum import numdb

    places = numdb.get("cn/loc")  # stdnum's birth-place table: the lookup by area code is the slow part
    places.info = lru_cache(maxsize=None)(places.info)

    plain_email = email_validator.validate_email

    @lru_cache(maxsize=65536)
    def domain(name: str):
        try:
            return plain_email("a@" + name, check_deliverability=False).normalized[2:]
        except email_validator.EmailNotValidError as exc:
            return exc

    def validate_email(raw: str, check_deliverability: bool = False):
        local, at, dom = raw.rpartition("@")
        if at and _DOT_ATOM.fullmatch(local) and len(local) <= 64 and len(raw) <= 254 and not check_deliverability:
            checked = domain(dom)
            if isinstance(checked, Exception):
                raise checked
            return _Normalized(local + "@" + checked)
        return plain_email(raw, check_deliverability=check_deliverability)

    v.validate_email = validate_email
    from kehu.catalog import validation

    validation.CHECKS["mobile"] = mobile
    from kehu.customers import bulk

    from pypinyin.seg.mmseg import seg as mmseg

    plain_pinyin = bulk.pinyin_keys
    words: dict[str, tuple[str, str]] = {}

    def pinyin(text: str) -> tuple[str, str]:
        # pypinyin converts word by word after its own maximum-match segmentation: memoise per word
        full, initials = [], []
        for word in mmseg.cut(text):
            got = words.get(word)
            if got is None:
                got = words[word] = plain_pinyin(word)
                if len(words) > 500_000:
                    words.clear()
            full.append(got[0])
            initials.append(got[1])
        return "".join(full), "".join(initials)

    bulk.pinyin_keys = pinyin


class _Normalized:
    """What kit.validate.email reads of email-validator's answer."""

    def __init__(self, normalized: str):
        self.normalized = normalized


def _init(keys_json: str, catalog, users: dict[str, tuple[bool, str | None]], departments: set[str]) -> None:
    from kehu.security.crypto import Crypto
    from kehu.security.keyring import KeyRing

    install_memos()
    _STATE.update(crypto=Crypto(KeyRing.from_json(keys_json)), catalog=catalog, users=users, departments=departments)


class _Kehu:
    """The part of the runtime a worker needs."""

    def __init__(self, crypto):
        self.crypto = crypto


def _work(principal, reason: str, indexed: list[tuple[int, dict]]) -> tuple[list, list]:
    """Check and seal one chunk: (prepared rows with their stored form, row errors)."""
    from kehu.db import utcnow
    from kehu.runtime import Ctx

    ctx = Ctx(kehu=_Kehu(_STATE["crypto"]), principal=principal, catalog=_STATE["catalog"])  # type: ignore[arg-type]
    worker = _SnapshotBulk(ctx, reason)
    now = utcnow()
    out = []
    for i, row in indexed:
        p = worker.prepare(i, row)
        if p is None:
            continue
        p.sealed = worker.seal(p, now=now, user_id=principal.user_id)
        p.values, p.kids = None, None  # only the sealed form goes back
        out.append(p)
    return out, worker.result.errors


def _snapshot_bulk_class():
    from kehu.customers import bulk

    class SnapshotBulk(bulk.Bulk):
        """Bulk checks over a snapshot of users and departments instead of a session."""

        def __init__(self, ctx, reason):
            super().__init__(None, ctx, reason)  # type: ignore[arg-type]

        def owner(self, user_id: str):
            found = _STATE["users"].get(user_id)
            return None if found is None else _Owner(found[1], found[0])

        def check_refs(self, values: dict[str, Any]) -> list[FieldError]:
            # the same two checks and messages as customers.service._check_refs, over the snapshot
            errors = []
            owner_id, dept_id = values.get("owner_id"), values.get("department_id")
            if owner_id is not None:
                user = _STATE["users"].get(owner_id)
                if user is None or not user[0]:
                    errors.append(FieldError("owner_id", "owner_not_found", "负责人不存在或已停用"))
            if dept_id is not None and dept_id not in _STATE["departments"]:
                errors.append(FieldError("department_id", "department_not_found", "所属部门不存在"))
            return errors

    return SnapshotBulk


class _Owner:
    def __init__(self, department_id: str | None, active: bool):
        self.department_id, self.active = department_id, active


def _SnapshotBulk(ctx, reason):  # noqa: N802  (built lazily: importing bulk in the parent is not needed)
    cls = _STATE.get("cls") or _STATE.setdefault("cls", _snapshot_bulk_class())
    return cls(ctx, reason)


class Workers:
    """A bounded pipeline of chunks through worker processes, results in submission order."""

    def __init__(self, kehu, catalog, session, count: int):
        from sqlalchemy import select

        from kehu.access.models import Department, User

        users = {u.id: (u.active, u.department_id) for u in session.execute(select(User)).scalars()}
        departments = set(session.scalars(select(Department.id)))
        self.pool = ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn"), initializer=_init,
                                        initargs=(kehu.keys.to_json(), catalog, users, departments))
        self.window: deque[tuple[Any, Future]] = deque()
        self.limit = count + 1

    def submit(self, tag: Any, principal, reason: str, indexed: list[tuple[int, dict]]) -> None:
        """Queue a chunk; `tag` comes back with its result."""
        self.window.append((tag, self.pool.submit(_work, principal, reason, indexed)))

    def full(self) -> bool:
        """Enough chunks in flight: take one result before submitting more (bounded memory)."""
        return len(self.window) >= self.limit

    def take(self) -> tuple[Any, tuple[list, list]]:
        """The oldest chunk's (tag, (prepared, errors))."""
        tag, future = self.window.popleft()
        return tag, future.result()

    def close(self) -> None:
        """Stop the workers."""
        for _tag, future in self.window:
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
