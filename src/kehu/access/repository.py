"""Queries of the access domain."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kehu.access.models import Department, KnownCapability, Role, Token, User


def token_owner(session: Session, digest: str, now: datetime) -> tuple[str, Token] | None:
    """(user id, token) of a live token of an active user."""
    row = session.execute(
        select(User.id, Token).join(Token, Token.user_id == User.id)
        .where(Token.digest == digest, Token.expires_at > now, User.active.is_(True))
    ).first()
    return (row[0], row[1]) if row else None


def user_by_name(session: Session, username: str) -> User | None:
    """A user by login name."""
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def subtree_ids(session: Session, department: Department | None) -> frozenset[str]:
    """Ids of a department and every department below it."""
    if department is None:
        return frozenset()
    rows = session.execute(select(Department.id).where(Department.path.startswith(department.path)))
    return frozenset(r[0] for r in rows)


def role_by_code(session: Session, code: str) -> Role | None:
    """A role by its code."""
    return session.execute(select(Role).where(Role.code == code)).scalar_one_or_none()


def list_users(session: Session) -> list[User]:
    """All users, by login name."""
    return list(session.execute(select(User).order_by(User.username)).scalars())


def list_roles(session: Session) -> list[Role]:
    """All roles."""
    return list(session.execute(select(Role).order_by(Role.builtin.desc(), Role.code)).scalars())


def list_departments(session: Session) -> list[Department]:
    """All departments in tree order."""
    return list(session.execute(select(Department).order_by(Department.path)).scalars())


def known_capabilities(session: Session) -> set[str]:
    """Codes of the capabilities this store has met."""
    return set(session.scalars(select(KnownCapability.code)))
