"""Accounts, roles and sign-in: who may use the REST API, and as what.

Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed when those change);
there is no default account: the first admin is made on the workspace's machine
(`facesift users add NAME --role admin`). Tokens are random, handed out once, stored as
their SHA-256, and stop working when they expire, are revoked, or their account is disabled
or its password changed. Failed sign-ins are audited and limit further attempts.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from facesift.errors import FacesiftError, NotFound, WorkspaceError
from facesift.store.accounts import ROLES
from facesift.store.records import Account
from facesift.store.store import Tx
from facesift.workflows.context import Context

TOKEN_LIFETIME = timedelta(hours=8)
# Sign-in attempts: after this many failures for one account within the window, further
# attempts are refused (even with the right password) until the window has passed.
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so that a wrong name takes as long as a wrong
    password (made on first use: hashing costs time every command would pay)."""
    return _hasher.hash(secrets.token_hex(16))


class SignInRefused(FacesiftError):
    """Wrong name or password, or a disabled account (which one is not said)."""


class TooManyAttempts(FacesiftError):
    """Too many failed sign-ins for this account lately."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


def role_allows(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may (viewer < analyst < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise WorkspaceError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WorkspaceError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def add_user(ctx: Context, name: str, role: str, password: str) -> Account:
    """Make an account (names are unique; accounts are never deleted, only disabled)."""
    _check_role(role)
    _check_password(password)
    if not name.strip() or name != name.strip() or ":" in name:
        raise WorkspaceError(f"{name!r}: an account name cannot be empty, padded or hold ':'")
    hashed = _hasher.hash(password)

    def write(tx: Tx) -> Account:
        if tx.accounts.get(name) is not None:
            raise WorkspaceError(f"an account named {name!r} exists already")
        account = tx.accounts.add(name, role, hashed)
        tx.audit(ctx.actor, "user.add", objects={"user": name}, details={"role": role})
        return account

    return ctx.store.transaction(write)


def users(ctx: Context) -> list[Account]:
    return ctx.store.read(lambda tx: tx.accounts.all())


def set_password(ctx: Context, name: str, password: str) -> None:
    """Change a password; the account's tokens stop working."""
    _check_password(password)
    hashed = _hasher.hash(password)

    def write(tx: Tx) -> None:
        _existing(tx, name)
        tx.accounts.set_password_hash(name, hashed)
        revoked = tx.accounts.revoke_tokens(name)
        tx.audit(ctx.actor, "user.passwd", objects={"user": name}, details={"revoked": revoked})

    ctx.store.transaction(write)


def set_role(ctx: Context, name: str, role: str) -> None:
    _check_role(role)

    def write(tx: Tx) -> None:
        before = _existing(tx, name).role
        tx.accounts.set_role(name, role)
        tx.audit(
            ctx.actor, "user.role", objects={"user": name}, details={"from": before, "to": role}
        )

    ctx.store.transaction(write)


def set_disabled(ctx: Context, name: str, disabled: bool = True) -> None:
    """Disable (or enable again) an account; disabling revokes its tokens at once."""

    def write(tx: Tx) -> None:
        _existing(tx, name)
        tx.accounts.set_disabled(name, disabled)
        revoked = tx.accounts.revoke_tokens(name) if disabled else 0
        action = "user.disable" if disabled else "user.enable"
        tx.audit(ctx.actor, action, objects={"user": name}, details={"revoked": revoked})

    ctx.store.transaction(write)


def login(ctx: Context, name: str, password: str, *, client: str | None = None) -> str:
    """A new token for `name`, or SignInRefused / TooManyAttempts; each attempt audited."""
    now = datetime.now(UTC)
    since = (now - FAILED_LOGIN_WINDOW).isoformat(timespec="microseconds")
    failures = ctx.store.read(
        lambda tx: tx.audit_log.count(actor=name, action="login.failed", since=since)
    )
    if failures >= MAX_FAILED_LOGINS:
        ctx.store.transaction(
            lambda tx: tx.audit(name, "login.throttled", inputs={"client": client})
        )
        raise TooManyAttempts(int(FAILED_LOGIN_WINDOW.total_seconds()))
    stored = ctx.store.read(lambda tx: tx.accounts.password_hash(name))
    account = ctx.store.read(lambda tx: tx.accounts.get(name))
    ok = _verify(stored or _dummy_hash(), password) and stored is not None
    if not ok or account is None or account.disabled:
        why = "disabled" if ok and account is not None else "wrong name or password"
        ctx.store.transaction(
            lambda tx: tx.audit(
                name, "login.failed", inputs={"client": client}, details={"reason": why}
            )
        )
        raise SignInRefused("wrong name or password, or the account is disabled")
    token = secrets.token_urlsafe(32)
    rehash = _hasher.check_needs_rehash(stored) if stored else False

    def write(tx: Tx) -> None:
        if rehash:
            tx.accounts.set_password_hash(name, _hasher.hash(password))
        tx.accounts.add_token(name, token_sha256(token), now + TOKEN_LIFETIME)
        tx.audit(
            name,
            "login",
            inputs={"client": client},
            details={"expires": (now + TOKEN_LIFETIME).isoformat(timespec="seconds")},
        )

    ctx.store.transaction(write)
    return token


def authenticate(ctx: Context, token: str) -> Account | None:
    """The account a live token belongs to (None: unknown, expired, revoked or disabled)."""
    digest = token_sha256(token)
    return ctx.store.read(lambda tx: tx.accounts.token_account(digest, datetime.now(UTC)))


def logout(ctx: Context, token: str) -> None:
    def write(tx: Tx) -> None:
        if tx.accounts.revoke_token(token_sha256(token)):
            tx.audit(ctx.actor, "logout")

    ctx.store.transaction(write)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _existing(tx: Tx, name: str) -> Account:
    account = tx.accounts.get(name)
    if account is None:
        raise NotFound(f"no account named {name!r}")
    return account
