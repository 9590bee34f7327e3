"""Accounts, passwords, API tokens and what each role may do.

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory
profile) and rehashed on login when the parameters change. There is no default
account or password: the first admin is made with ``medscreen users create
--admin``. API tokens are random, shown once, and stored only as their SHA-256
(a hash suffices for a 256-bit random secret; a slow hash would only slow every
request).

:data:`PERMISSIONS` is the whole role table; :func:`can` adds the clinic rule:
a health worker or reviewer only ever reaches records of their own clinic.
Functions add and flush; the caller commits.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from medscreen.errors import ConfigError, did_you_mean
from medscreen.i18n import parse_optional_language
from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.logins import revoke_login_sessions
from medscreen.store.models import ApiToken, Capture, Clinic, Patient, Review, Role, Screening, User, Visit, utcnow

__all__ = [
    "ACTIONS",
    "MIN_PASSWORD_LENGTH",
    "PERMISSIONS",
    "TOKEN_PREFIX",
    "authenticate",
    "can",
    "check_password",
    "clinic_id_of",
    "create_api_token",
    "create_user",
    "find_user",
    "list_api_tokens",
    "list_users",
    "parse_role",
    "parse_user_language",
    "require",
    "revoke_api_token",
    "set_active",
    "set_language",
    "set_role",
    "set_password",
    "user_for_token",
    "user_id_for",
]

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "msk_"
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")

_WORKER = frozenset(
    {"patient.read", "patient.create", "patient.update", "visit.read", "visit.create",
     "capture.read", "capture.create", "screening.read", "screening.run"}
)  # fmt: skip
_REVIEWER = frozenset({"patient.read", "visit.read", "capture.read", "screening.read", "review.read", "review.create"})
_ADMIN_ONLY = frozenset({"user.read", "user.manage", "clinic.manage", "labels.export", "audit.read"})

#: every action :func:`can` knows; the same strings serve as audit actions
ACTIONS: frozenset[str] = _WORKER | _REVIEWER | _ADMIN_ONLY

#: what each role may do; health workers and reviewers only within their own clinic
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.HEALTH_WORKER: _WORKER,
    Role.REVIEWER: _REVIEWER,
    Role.ADMIN: ACTIONS,
}


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # Argon2id, RFC 9106 low-memory profile


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both paths take as long."""
    return _hasher().hash(secrets.token_urlsafe(16))


def parse_role(role: Role | str) -> Role:
    """A :class:`Role` from itself or its value (``health_worker``, ``reviewer``, ``admin``).

    Raises:
        StoreError: unknown role, with the closest valid one.
    """
    if isinstance(role, Role):
        return role
    value = str(role).strip().lower().replace("-", "_")
    try:
        return Role(value)
    except ValueError:
        choices = [r.value for r in Role]
        raise StoreError(f"role {role!r} is not one of {', '.join(choices)}" + did_you_mean(value, choices)) from None


def _username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise StoreError(
            f"username {username!r} is not valid: use 3 to 64 characters a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str, username: str | None = None) -> None:
    """Refuse a password that is too short, too long or contains the username (the password is never shown).

    Raises:
        StoreError: the rule it breaks and what to do.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StoreError(
            f"password is {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a few unrelated words make a long password easy to remember)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StoreError(f"password is {len(password)} characters; use at most {MAX_PASSWORD_LENGTH}")
    if not password.strip():
        raise StoreError("password is only spaces; choose a password with letters, digits or symbols")
    if username and username.strip().lower() in password.lower():
        raise StoreError(f"password contains the username {username!r}; choose a password without it")


def create_user(session: Session, username: str, password: str, role: Role | str, clinic: Clinic | None = None,
                *, language: str | None = None) -> User:
    """Add an active user with an Argon2 password hash.

    Args:
        username: 3-64 characters a-z, 0-9, ``.``, ``_``, ``-`` (stored lower-case).
        password: at least :data:`MIN_PASSWORD_LENGTH` characters, not containing the username.
        role: ``health_worker``, ``reviewer`` or ``admin``.
        clinic: required for health workers and reviewers; optional for admins.
        language: the user's language (a code of :data:`~medscreen.i18n.LANGUAGES`); None: the server's default.

    Raises:
        StoreError: invalid username, password, role or language, no clinic for a clinic role, or the username
            is taken.
    """
    name = _username(username)
    role = parse_role(role)
    language = parse_user_language(language)
    check_password(password, name)
    if clinic is None and role is not Role.ADMIN:
        raise StoreError(f"user {name!r}: a {role.value} belongs to a clinic; pass the clinic")
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise StoreError(f"username {name!r} is taken; choose another")
    user = User(username=name, role=role, password_hash=_hasher().hash(password), clinic=clinic, active=True,
                language=language)
    session.add(user)
    session.flush()
    logger.info("created user %d (%s)", user.id, role.value)
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password (same rules as :func:`create_user`); every login session of the user ends."""
    check_password(password, user.username)
    user.password_hash = _hasher().hash(password)
    revoke_login_sessions(session, user)
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivate or reactivate an account; deactivating ends its login sessions (its tokens stop working too)."""
    user.active = active
    if not active:
        revoke_login_sessions(session, user)
    session.flush()
    logger.info("%s user %d", "reactivated" if active else "deactivated", user.id)


def set_role(session: Session, user: User, role: Role | str, clinic: Clinic | None) -> None:
    """Give a user another role or clinic; their login sessions end (they sign in again with the new rights).

    Raises:
        StoreError: unknown role, or no clinic for a health worker or reviewer.
    """
    role = parse_role(role)
    if clinic is None and role is not Role.ADMIN:
        raise StoreError(f"user {user.username!r}: a {role.value} belongs to a clinic; choose the clinic")
    user.role, user.clinic = role, clinic
    revoke_login_sessions(session, user)
    session.flush()
    logger.info("user %d is now %s of clinic %s", user.id, role.value, None if clinic is None else clinic.id)


def parse_user_language(language: str | None) -> str | None:
    """A language code of :data:`~medscreen.i18n.LANGUAGES`, or None (empty: the server's default).

    Raises:
        StoreError: not a shipped language; names the choices and the closest one.
    """
    try:
        return parse_optional_language(language)
    except ConfigError as exc:
        raise StoreError(str(exc)) from None


def set_language(session: Session, user: User, language: str | None) -> None:
    """Set the language a user reads the pages and PDFs in (None or empty: the server's default).

    Raises:
        StoreError: not a shipped language.
    """
    user.language = parse_user_language(language)
    session.flush()
    logger.info("user %d reads %s", user.id, user.language or "the server's default language")


def find_user(session: Session, username: str) -> User:
    """The account named ``username``.

    Raises:
        StoreError: no such account, with the closest existing name.
    """
    name = username.strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        names = list(session.scalars(select(User.username)))
        raise StoreError(f"no account {username!r}" + did_you_mean(name, names)
                         + "; list the accounts with `medscreen users list`")
    return user


def user_id_for(session: Session, username: str) -> int | None:
    """The id of the account named ``username`` (as typed at sign-in), or None: for audit rows of failed sign-ins."""
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        return None
    return session.scalar(select(User.id).where(User.username == name))


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def list_api_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    """API tokens (of ``user``, or all), oldest first; revoked ones included."""
    stmt = select(ApiToken).order_by(ApiToken.id)
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(session.scalars(stmt))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None.

    Unknown users and inactive accounts take as long as a wrong password (a
    dummy hash is verified). A hash made with older parameters is replaced
    (flushed; the caller commits).
    """
    try:
        name = _username(username)
    except StoreError:
        name = None
    user = None if name is None else session.scalar(select(User).where(User.username == name))
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            _hasher().verify(_dummy_hash(), password)
        return None
    try:
        _hasher().verify(user.password_hash, password)
    except VerifyMismatchError:
        return None
    except (VerificationError, InvalidHashError):
        logger.warning("user %d has an unreadable password hash; reset the password", user.id)
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
        session.flush()
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(session: Session, user: User, name: str) -> str:
    """Make an API token for ``user`` and return it: it is shown once and only its hash is kept.

    Raises:
        StoreError: blank or over-long name, or the user is inactive.
    """
    label = name.strip()
    if not label or len(label) > 100:
        raise StoreError(f"token name {name!r} must be 1 to 100 characters; name the script that will use it")
    if not user.active:
        raise StoreError(f"user {user.username!r} is inactive; activate the account before making a token")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, token_hash=_token_hash(token), name=label)
    session.add(row)
    session.flush()
    logger.info("created API token %d for user %d", row.id, user.id)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user of a valid, unrevoked token (its ``last_used_at`` is updated), or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked or not row.user.active:
        return None
    row.last_used_at = utcnow()
    session.flush()
    return row.user


def revoke_api_token(session: Session, token: ApiToken) -> None:
    """Revoke a token for good (the row is kept for the audit trail)."""
    token.revoked = True
    session.flush()


def _check_action(action: str) -> None:
    if action not in ACTIONS:
        raise StoreError(
            f"unknown action {action!r}"
            + did_you_mean(action, sorted(ACTIONS))
            + f"; actions are {', '.join(sorted(ACTIONS))}"
        )


def clinic_id_of(obj: Any) -> int | None:
    """The clinic a record belongs to (walking up to its patient); None for a user without a clinic.

    Raises:
        StoreError: the record has no clinic of its own (an image: check its capture instead).
    """
    match obj:
        case Clinic():
            return obj.id
        case Patient() | User():
            return obj.clinic_id
        case Visit():
            return obj.patient.clinic_id
        case Capture():
            return obj.visit.patient.clinic_id
        case Screening():
            return obj.capture.visit.patient.clinic_id
        case Review():
            return obj.screening.capture.visit.patient.clinic_id
    raise StoreError(
        f"access to a {type(obj).__name__} is not checked on its own; check the record it belongs to "
        "(for an image, its capture)"
    )


def can(user: User | None, action: str, obj: Any = None) -> bool:
    """Whether ``user`` may do ``action`` (to ``obj``).

    The role must allow the action (:data:`PERMISSIONS`); an admin may do
    everything. Others only reach records of their own clinic: pass the record
    (for a ``*.create`` action, the parent it is created in: the clinic for a
    patient, the patient for a visit, the visit for a capture, the screening
    for a review). Without ``obj`` only the role is checked (listing one's own
    clinic). Inactive users and ``None`` may do nothing.

    Raises:
        StoreError: unknown action, or a record whose clinic cannot be told.
    """
    _check_action(action)
    if user is None or not user.active or action not in PERMISSIONS[user.role]:
        return False
    if user.role is Role.ADMIN or obj is None:
        return True
    clinic = clinic_id_of(obj)
    return user.clinic_id is not None and clinic == user.clinic_id


def require(user: User | None, action: str, obj: Any = None) -> None:
    """Like :func:`can`, but raise when it is not allowed.

    Raises:
        PermissionDeniedError: the role or the clinic does not allow it.
    """
    if not can(user, action, obj):
        who = "no user" if user is None else f"user {user.username!r} ({user.role.value})"
        what = "" if obj is None else f" on {type(obj).__name__.lower()} {getattr(obj, 'id', '')}"
        logger.warning("denied %s to %s%s", action, "anonymous" if user is None else f"user {user.id}", what)
        other_clinic = user is not None and user.active and obj is not None and action in PERMISSIONS[user.role]
        raise PermissionDeniedError(
            f"{who} may not {action}{what}; ask an admin for the right role or clinic",
            user_id=None if user is None else user.id, action=action,
            object_type=None if obj is None else type(obj).__name__.lower(),
            object_id=getattr(obj, "id", None), other_clinic=other_clinic)
