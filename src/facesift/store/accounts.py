"""Accounts and API tokens in the store. Password hashing and token checks are the use case's
(facesift.workflows.accounts); this module only keeps what they decide."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from facesift.store.records import Account
from facesift.store.schema import ApiToken, User, utcnow

ROLES = ("viewer", "analyst", "admin")  # each may do what the ones before it may


class Accounts:
    """The accounts part of a transaction (`Tx.accounts`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, name: str, role: str, password_hash: str) -> Account:
        user = User(name=name, role=role, password_hash=password_hash, disabled=False)
        self._session.add(user)
        self._session.flush()
        return _account(user)

    def get(self, name: str) -> Account | None:
        user = self._user(name)
        return None if user is None else _account(user)

    def password_hash(self, name: str) -> str | None:
        user = self._user(name)
        return None if user is None else user.password_hash

    def all(self) -> list[Account]:
        return [_account(u) for u in self._session.scalars(select(User).order_by(User.name))]

    def set_password_hash(self, name: str, password_hash: str) -> None:
        self._require(name).password_hash = password_hash

    def set_role(self, name: str, role: str) -> None:
        self._require(name).role = role

    def set_disabled(self, name: str, disabled: bool) -> None:
        self._require(name).disabled = disabled

    def add_token(self, name: str, token_sha256: str, expires_at: datetime) -> None:
        user = self._require(name)
        self._session.add(
            ApiToken(user_id=user.id, token_sha256=token_sha256, expires_at=expires_at)
        )
        self._session.flush()

    def token_account(self, token_sha256: str, now: datetime) -> Account | None:
        """The enabled account a token that has neither expired nor been revoked belongs to."""
        row = self._session.execute(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_sha256 == token_sha256,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
                User.disabled.is_(False),
            )
        ).scalar_one_or_none()
        return None if row is None else _account(row)

    def revoke_token(self, token_sha256: str) -> bool:
        done = self._session.execute(
            update(ApiToken)
            .where(ApiToken.token_sha256 == token_sha256, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return bool(getattr(done, "rowcount", 0))

    def revoke_tokens(self, name: str) -> int:
        """Revoke every live token of an account (password change, disabling)."""
        user = self._require(name)
        done = self._session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return int(getattr(done, "rowcount", 0))

    def _user(self, name: str) -> User | None:
        return self._session.scalar(select(User).where(User.name == name))

    def _require(self, name: str) -> User:
        user = self._user(name)
        if user is None:
            raise LookupError(f"no account named {name!r}")
        return user


def _account(user: User) -> Account:
    return Account(user.id, user.name, user.role, user.disabled, user.created_at)
