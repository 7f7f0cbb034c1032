"""Built-in roles of an existing store get each capability added to their defaults later, once (bootstrap)."""
from __future__ import annotations

from sqlalchemy import delete, func, select, update

from kehu.access.defaults import CAPABILITY_HOLDERS
from kehu.access.models import CAPABILITIES, KnownCapability, Role
from kehu.audit.models import AuditEntry
from kehu.setup import bootstrap


def _capabilities(kehu) -> dict[str, frozenset[str]]:
    with kehu.db.reader() as s:
        return {r.code: r.capability_set for r in s.scalars(select(Role))}


def _synced(kehu) -> dict[str, str]:
    with kehu.db.reader() as s:
        return dict(s.execute(select(AuditEntry.target_id, AuditEntry.detail)
                              .where(AuditEntry.action == "admin.role.capabilities")).all())


def _set(kehu, role: str, capabilities: set[str]) -> None:
    with kehu.db.transaction() as s:
        s.execute(update(Role).where(Role.code == role).values(capabilities=",".join(sorted(capabilities))))


def _custom_role(kehu) -> None:
    from kehu.kit.ids import new_id

    with kehu.db.transaction() as s:
        s.add(Role(id=new_id(), code="desk", name="前台", scope="own", capabilities="read_audit"))


def test_a_new_capability_reaches_its_default_holders_once_and_is_audited(kehu, monkeypatch):
    _custom_role(kehu)
    before = _capabilities(kehu)
    monkeypatch.setitem(CAPABILITIES, "run_reports", "运行报表")
    monkeypatch.setitem(CAPABILITY_HOLDERS, "run_reports", ("auditor", "dept_head"))
    bootstrap(kehu)
    after = _capabilities(kehu)
    assert {code for code in after if after[code] != before[code]} == {"auditor", "dept_head"}
    assert after["auditor"] == before["auditor"] | {"run_reports"}
    assert after["desk"] == frozenset({"read_audit"})  # custom roles are never touched
    assert _synced(kehu) == {"auditor": '{"added": ["run_reports"]}', "dept_head": '{"added": ["run_reports"]}'}
    with kehu.db.reader() as s:
        assert "run_reports" in set(s.scalars(select(KnownCapability.code)))
    bootstrap(kehu)  # already met: nothing more
    assert _capabilities(kehu) == after and len(_synced(kehu)) == 2


def test_a_capability_taken_from_a_built_in_role_stays_taken(kehu):
    _set(kehu, "info_manager", _capabilities(kehu)["info_manager"] - {"manage_tags"})
    bootstrap(kehu)
    assert "manage_tags" not in _capabilities(kehu)["info_manager"]
    assert _synced(kehu) == {}


def test_a_store_from_before_the_record_gets_what_no_default_holder_has(kehu):
    """No record yet: a capability counts as met when one of its default holders has it."""
    _custom_role(kehu)
    caps = _capabilities(kehu)
    with kehu.db.transaction() as s:
        s.execute(delete(KnownCapability))
    _set(kehu, "info_manager", caps["info_manager"] - {"manage_consent", "manage_intake"})  # admin keeps manage_intake
    bootstrap(kehu)
    after = _capabilities(kehu)
    assert "manage_consent" in after["info_manager"] and "manage_intake" not in after["info_manager"]
    assert after["desk"] == frozenset({"read_audit"})
    assert _synced(kehu) == {"info_manager": '{"added": ["manage_consent"]}'}
    with kehu.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(KnownCapability)) == len(CAPABILITIES)
