"""Server-side login sessions: made at sign-in, ended at logout, password change or deactivation.

The browser's (signed) session cookie carries only a random session id; its
SHA-256 is a :class:`~medscreen.store.models.LoginSession` row. A cookie saved
before logout therefore stops working at logout, not when it expires. The id
is hashed with SHA-256, not a slow hash, for the reason API tokens are: it is a
256-bit random secret. Functions add and flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from medscreen.store.models import LoginSession, User, utcnow

__all__ = ["end_login_session", "revoke_login_sessions", "start_login_session", "user_for_login_session"]

logger = logging.getLogger(__name__)

_MAX_ID_LENGTH = 100


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_login_session(session: Session, user: User, lifetime_s: int) -> str:
    """Record a new login session for ``user`` lasting ``lifetime_s`` seconds; returns its id (for the cookie)."""
    session_id = secrets.token_urlsafe(32)
    session.add(LoginSession(user=user, token_hash=_hash(session_id),
                             expires_at=utcnow() + timedelta(seconds=lifetime_s)))
    session.flush()
    return session_id


def _row(session: Session, session_id: object) -> LoginSession | None:
    if not isinstance(session_id, str) or not session_id or len(session_id) > _MAX_ID_LENGTH:
        return None
    return session.scalar(select(LoginSession).where(LoginSession.token_hash == _hash(session_id)))


def user_for_login_session(session: Session, session_id: object) -> User | None:
    """The active user of a live (unexpired, unrevoked) login session, or None."""
    row = _row(session, session_id)
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.active:
        return None
    return row.user


def end_login_session(session: Session, session_id: object) -> int | None:
    """Revoke one login session (logout); returns its user's id, or None when it was not live."""
    row = _row(session, session_id)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    session.flush()
    return row.user_id


def revoke_login_sessions(session: Session, user: User) -> int:
    """Revoke every live login session of ``user`` (password change, deactivation); returns how many."""
    count = session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    if count:
        logger.info("revoked %d login sessions of user %d", count, user.id)
    return count
