"""Accounts of the people who may sign in to the dashboard: add one, change its role, disable it, check a
password. Passwords are kept only as argon2 hashes; none is ever stored, returned or put in a message."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from db.models import MAX_USER_NAME_CHARS, ROLES, Account, utcnow
from db.store import Store

MIN_PASSWORD_CHARS = 10
_hasher = PasswordHasher()
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_UNKNOWN_HASH = _hasher.hash("an account that does not exist")

WRONG = "Wrong name or password."  # the same for an unknown name: a sign-in form does not say who exists


class SignInRefused(ValueError):
    """A sign-in that did not succeed; the message is one sentence for the person signing in."""


@dataclass(frozen=True)
class AccountRow:
    name: str
    role: str
    disabled: bool
    has_password: bool  # False: signs in only through the identity provider (OpenID Connect)
    created_at: datetime
    last_sign_in_at: datetime | None


def _row(a: Account) -> AccountRow:
    return AccountRow(
        a.name, a.role, a.disabled, a.password_hash is not None, a.created_at, a.last_sign_in_at
    )


def check_name(name: str) -> str:
    """`name` stripped, when it can name an account; a ValueError in one sentence otherwise."""
    name = (name or "").strip()
    if not name:
        raise ValueError("an account name cannot be empty")
    if len(name) > MAX_USER_NAME_CHARS:
        raise ValueError(f"the account name is {len(name)} characters long; at most {MAX_USER_NAME_CHARS}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ValueError("an account name cannot hold control characters (tabs, line breaks...)")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    """`password` when it is long enough; a ValueError saying how long it must be (never what it was)."""
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def any_accounts(store: Store) -> bool:
    """Whether the store holds any account (then the dashboard asks everyone to sign in)."""
    with store.session() as s:
        return s.scalar(select(Account.id).limit(1)) is not None


def add_account(store: Store, name: str, role: str, password: str | None) -> AccountRow:
    """A new account; `password` None makes one that signs in only through the identity provider."""
    name, role = check_name(name), check_role(role)
    hashed = None if password is None else _hasher.hash(check_password(password))
    with store.session() as s:
        taken = s.scalar(select(Account.name).where(func.lower(Account.name) == name.lower()))
        if taken is not None:
            raise ValueError(f"an account named {taken!r} already exists")
        account = Account(name=name, role=role, password_hash=hashed, disabled=False)
        s.add(account)
        s.flush()
        return _row(account)


def get_account(store: Store, name: str) -> AccountRow | None:
    with store.session() as s:
        account = s.scalar(select(Account).where(Account.name == name))
        return None if account is None else _row(account)


def find_by_identity(store: Store, identity: str) -> AccountRow | None:
    """The account named `identity` ignoring case (how an identity provider's e-mail maps to an account)."""
    with store.session() as s:
        account = s.scalar(select(Account).where(func.lower(Account.name) == identity.strip().lower()))
        return None if account is None else _row(account)


def list_accounts(store: Store) -> list[AccountRow]:
    with store.session() as s:
        return [_row(a) for a in s.scalars(select(Account).order_by(Account.name))]


def _get(s, name: str) -> Account:
    account = s.scalar(select(Account).where(Account.name == name))
    if account is None:
        raise ValueError(f"no account named {name!r}")
    return account


def _keep_an_admin(s, account: Account) -> None:
    """Refuse a change that would leave no enabled admin (nobody could manage the accounts any more)."""
    admins = s.scalar(select(func.count()).where(Account.role == "admin", Account.disabled.is_(False)))
    if account.role == "admin" and not account.disabled and admins <= 1:
        raise ValueError(f"{account.name!r} is the only enabled admin; make another admin first")


def set_role(store: Store, name: str, role: str) -> AccountRow:
    role = check_role(role)
    with store.session() as s:
        account = _get(s, name)
        if role != "admin":
            _keep_an_admin(s, account)
        account.role = role
        return _row(account)


def set_disabled(store: Store, name: str, disabled: bool) -> AccountRow:
    """Disable an account (its sessions end at their next action) or enable it again."""
    with store.session() as s:
        account = _get(s, name)
        if disabled:
            _keep_an_admin(s, account)
        account.disabled = disabled
        return _row(account)


def set_password(store: Store, name: str, password: str) -> None:
    hashed = _hasher.hash(check_password(password))
    with store.session() as s:
        _get(s, name).password_hash = hashed


def sign_in(store: Store, name: str, password: str) -> AccountRow:
    """The account when `password` is its password and it is enabled (its last sign-in is recorded);
    SignInRefused with one sentence otherwise. A disabled account is named only after a right password."""
    with store.session() as s:
        account = s.scalar(select(Account).where(Account.name == (name or "").strip()))
        stored = account.password_hash if account is not None else None
        try:
            _hasher.verify(stored or _UNKNOWN_HASH, password or "")
            right = stored is not None
        except (VerificationError, InvalidHashError):
            right = False
        if not right:
            raise SignInRefused(WRONG)
        if account.disabled:
            raise SignInRefused("This account is disabled; ask an admin to enable it.")
        if _hasher.check_needs_rehash(stored):
            account.password_hash = _hasher.hash(password)
        account.last_sign_in_at = utcnow()
        return _row(account)


def touch(store: Store, name: str) -> None:
    """Record a sign-in through the identity provider."""
    with store.session() as s:
        account = s.scalar(select(Account).where(Account.name == name))
        if account is not None:
            account.last_sign_in_at = utcnow()
