"""The running system: settings, database, keys, audit chain and the cached catalogue/principals."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.access.principal import Principal
from kehu.audit.chain import AuditChain, GroupCommitter
from kehu.catalog.models import CatalogOverride, SecurityEpoch
from kehu.catalog.registry import Catalog, build_catalog
from kehu.config import Settings, get_settings
from kehu.db import Database, prepared
from kehu.security.crypto import Crypto
from kehu.security.keyring import KeyRing, load_keyring


class Kehu:
    """One per process: everything a request or command needs besides its own session."""

    def __init__(self, settings: Settings | None = None, *, keys: KeyRing | None = None, db: Database | None = None):
        self.settings = settings or get_settings()
        self.keys = keys or load_keyring(
            env_value=self.settings.keys.get_secret_value() if self.settings.keys else None,
            path=self.settings.resolved_key_file())
        self.db = db or Database(self.settings.database_url)
        self.crypto = Crypto(self.keys)
        self.audit = AuditChain(self.keys.audit)
        self.audit.install(self.db.sessions)
        self.audit_writer = GroupCommitter(self.db, self.audit)
        self._catalog: tuple[int, Catalog] | None = None
        self._directory: tuple[int, dict, dict] | None = None
        self._principals: dict[tuple[str, int], Principal] = {}
        self._tokens: dict[str, tuple[int, object]] = {}
        self._lock = threading.Lock()

    # security epoch -----------------------------------------------------------
    @staticmethod
    def epoch(session: Session) -> int:
        """Current value of the security epoch."""
        # compiled once, run on the DB-API cursor: this runs on every request
        row = prepared(session, "epoch", lambda: select(SecurityEpoch.value).where(SecurityEpoch.id == 1)).first(session)
        return (row[0] if row else 0) or 0

    @staticmethod
    def bump_epoch(session: Session) -> None:
        """Invalidate cached policy everywhere (grants, roles, users, catalogue changed)."""
        row = session.get(SecurityEpoch, 1, with_for_update=True)
        if row is None:
            session.add(SecurityEpoch(id=1, value=1))
        else:
            row.value += 1

    # catalogue ----------------------------------------------------------------
    def catalog(self, session: Session, epoch: int | None = None) -> Catalog:
        """The effective catalogue, rebuilt only when the epoch moved."""
        epoch = self.epoch(session) if epoch is None else epoch
        cached = self._catalog
        if cached and cached[0] == epoch:
            return cached[1]
        overrides = {o.key: {"level": o.level, "mask": o.mask}
                     for o in session.execute(select(CatalogOverride)).scalars()}
        cat = build_catalog(overrides)
        self._catalog = (epoch, cat)
        return cat

    # directory ----------------------------------------------------------------------
    def directory(self, session: Session, epoch: int | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """Display names of all users and departments, rebuilt only when the epoch moved."""
        epoch = self.epoch(session) if epoch is None else epoch
        cached = self._directory
        if cached and cached[0] == epoch:
            return cached[1], cached[2]
        from kehu.access.models import Department, User

        users = dict(session.execute(select(User.id, User.display_name)).all())
        depts = dict(session.execute(select(Department.id, Department.name)).all())
        self._directory = (epoch, users, depts)
        return users, depts

    # tokens and principals ---------------------------------------------------------
    def cached_token(self, digest: str, epoch: int):
        """A token resolved earlier in the same epoch."""
        hit = self._tokens.get(digest)
        return hit[1] if hit and hit[0] == epoch else None

    def remember_token(self, digest: str, epoch: int, info) -> None:
        """Cache a token's owner and expiry for this epoch."""
        with self._lock:
            if len(self._tokens) > 50000:
                self._tokens.clear()
            self._tokens[digest] = (epoch, info)

    def cached_principal(self, user_id: str, epoch: int) -> Principal | None:
        """A principal resolved earlier in the same epoch."""
        return self._principals.get((user_id, epoch))

    def remember_principal(self, principal: Principal, epoch: int) -> None:
        """Cache a resolved principal for this epoch (older epochs dropped)."""
        with self._lock:
            if len(self._principals) > 10000 or any(k[1] != epoch for k in list(self._principals)[:1]):
                self._principals = {k: v for k, v in self._principals.items() if k[1] == epoch}
            self._principals[(principal.user_id, epoch)] = principal


@dataclass
class Ctx:
    """Per-operation context handed to services: the caller, the effective catalogue, the runtime."""

    kehu: Kehu
    principal: Principal
    catalog: Catalog
    ip: str | None = None
    epoch: int | None = None
    extra: dict = field(default_factory=dict)

    def names(self, session: Session) -> tuple[dict[str, str], dict[str, str]]:
        """(user id → display name, department id → name)."""
        return self.kehu.directory(session, self.epoch)

    def audit(self, session: Session, *, action: str, **kw) -> None:
        """Stage an audit entry attributed to this caller."""
        self.kehu.audit.stage(session, action=action, actor_id=self.principal.user_id,
                              actor_name=self.principal.username, ip=self.ip, **kw)
