"""Accounts, passwords, API tokens, and the role table with its clinic rule."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from store_support import PASSWORD, World, png_bytes

from medscreen.store import users as users_module
from medscreen.store.blobs import BlobStore
from medscreen.store.errors import PermissionDeniedError, StoreError
from medscreen.store.models import ApiToken, Review, Role, Screening, User
from medscreen.store.uploads import record_capture
from medscreen.store.users import (
    ACTIONS,
    PERMISSIONS,
    authenticate,
    can,
    check_password,
    create_api_token,
    create_user,
    parse_role,
    require,
    revoke_api_token,
    set_password,
    user_for_token,
)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 10"), (" " * 12, "only spaces"), ("x" * 2000, "at most"), ("my-nurse.joy-2024", "username")],
)
def test_password_rules(password: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        check_password(password, "nurse.joy")
    assert password.strip() == "" or password not in str(info.value)  # the password is never echoed


def test_create_user_stores_an_argon2_hash(session: Session, world: World) -> None:
    user = create_user(session, "  Nurse.Joy ", PASSWORD, "health-worker", world.clinic_a)
    assert user.username == "nurse.joy" and user.role is Role.HEALTH_WORKER and user.active
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("username", "role", "clinic", "message"),
    [
        ("worker", "reviewer", True, "taken"),
        ("ab", "reviewer", True, "3 to 64"),
        ("bad name", "reviewer", True, "not valid"),
        ("newbie", "reviewr", True, "did you mean 'reviewer'"),
        ("newbie", "health_worker", False, "belongs to a clinic"),
    ],
)
def test_create_user_refuses(
    session: Session, world: World, username: str, role: str, clinic: bool, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        create_user(session, username, PASSWORD, role, world.clinic_a if clinic else None)


def test_admin_needs_no_clinic(session: Session) -> None:
    assert create_user(session, "root", PASSWORD, Role.ADMIN).clinic_id is None


def test_user_language(session: Session, world: World) -> None:
    from medscreen.store.users import set_language

    user = create_user(session, "lectrice", PASSWORD, Role.REVIEWER, world.clinic_a, language="fr-SN")
    assert user.language == "fr"
    with pytest.raises(StoreError, match="not one of the languages shipped"):
        create_user(session, "reader", PASSWORD, Role.REVIEWER, world.clinic_a, language="wolof")
    set_language(session, user, "")
    assert user.language is None  # the server's default
    with pytest.raises(StoreError, match="did you mean 'en'"):
        set_language(session, user, "eng")


def test_authenticate(session: Session, world: World) -> None:
    assert authenticate(session, "Worker", PASSWORD) is world.worker
    assert authenticate(session, "worker", PASSWORD + "!") is None
    assert authenticate(session, "nobody", PASSWORD) is None
    assert authenticate(session, "", PASSWORD) is None
    world.worker.active = False
    assert authenticate(session, "worker", PASSWORD) is None


def test_authenticate_rehashes_old_parameters(session: Session, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    old_hash = world.worker.password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=512, parallelism=1)
    monkeypatch.setattr(users_module, "_hasher", lambda: stronger)
    assert authenticate(session, "worker", PASSWORD) is world.worker
    assert world.worker.password_hash != old_hash and "m=512,t=2" in world.worker.password_hash
    assert authenticate(session, "worker", PASSWORD) is world.worker


def test_set_password(session: Session, world: World) -> None:
    set_password(session, world.worker, "a brand new passphrase")
    assert authenticate(session, "worker", PASSWORD) is None
    assert authenticate(session, "worker", "a brand new passphrase") is world.worker


def test_api_tokens(session: Session, world: World) -> None:
    token = create_api_token(session, world.worker, "upload script")
    row = session.scalar(select(ApiToken))
    assert token.startswith("msk_") and len(token) > 40
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    assert row.last_used_at is None
    assert user_for_token(session, token) is world.worker
    assert row.last_used_at is not None
    assert user_for_token(session, token + "x") is None
    assert user_for_token(session, "not-a-token") is None
    revoke_api_token(session, row)
    assert user_for_token(session, token) is None


def test_token_of_inactive_user_is_refused(session: Session, world: World) -> None:
    token = create_api_token(session, world.reviewer, "export")
    world.reviewer.active = False
    assert user_for_token(session, token) is None
    with pytest.raises(StoreError, match="inactive"):
        create_api_token(session, world.reviewer, "another")
    with pytest.raises(StoreError, match="token name"):
        create_api_token(session, world.worker, "  ")


def test_role_table() -> None:
    assert PERMISSIONS[Role.ADMIN] == ACTIONS
    assert {"patient.create", "visit.create", "capture.create", "screening.read"} <= PERMISSIONS[Role.HEALTH_WORKER]
    assert "review.create" not in PERMISSIONS[Role.HEALTH_WORKER]
    assert {"patient.read", "screening.read", "review.read", "review.create"} <= PERMISSIONS[Role.REVIEWER]
    assert not {"patient.create", "capture.create"} & PERMISSIONS[Role.REVIEWER]
    assert not {"user.manage", "labels.export", "audit.read"} & (
        PERMISSIONS[Role.HEALTH_WORKER] | PERMISSIONS[Role.REVIEWER]
    )


def test_permissions_per_role_and_clinic(session: Session, blobs: BlobStore, world: World) -> None:
    visit = world.visit(session)
    capture = record_capture(
        session, blobs, visit=visit, eye="OD", data=png_bytes(), filename="od.png", user=world.worker
    )
    screening = session.scalar(select(Screening))
    review = Review(screening=screening, reviewer=world.reviewer, task="glaucoma", decision="correct", label="normal")
    session.add(review)
    session.flush()
    own = [world.patient, visit, capture, screening]

    for obj in own:
        kind = type(obj).__name__.lower()
        assert can(world.worker, f"{kind}.read", obj)
        assert can(world.reviewer, f"{kind}.read", obj)
        assert can(world.admin, f"{kind}.read", obj)
        assert not can(world.worker_b, f"{kind}.read", obj)  # another clinic: never
        assert not can(world.reviewer_b, f"{kind}.read", obj)
    assert can(world.worker, "patient.create", world.clinic_a) and not can(
        world.worker, "patient.create", world.clinic_b
    )
    assert can(world.worker, "capture.create", visit) and not can(world.reviewer, "capture.create", visit)
    assert can(world.reviewer, "review.create", screening) and not can(world.worker, "review.create", screening)
    assert can(world.reviewer, "review.read", review) and not can(world.reviewer_b, "review.read", review)
    assert not can(world.worker, "review.read", review)
    for action in ("user.manage", "labels.export", "audit.read"):
        assert can(world.admin, action) and not can(world.worker, action) and not can(world.reviewer, action)
    assert can(world.admin, "user.manage", world.worker_b)
    assert not can(world.worker, "user.read", world.worker)
    assert not can(None, "patient.read", world.patient)
    world.worker.active = False
    assert not can(world.worker, "patient.read", world.patient)


def test_require_and_unknown_actions(session: Session, world: World) -> None:
    require(world.worker, "patient.read", world.patient)
    with pytest.raises(PermissionDeniedError, match="worker.b.*patient.read on patient") as info:
        require(world.worker_b, "patient.read", world.patient)
    assert world.patient.name not in str(info.value)
    with pytest.raises(StoreError, match="did you mean 'patient.read'"):
        can(world.worker, "patient.raed")
    with pytest.raises(StoreError, match="its capture"):
        can(world.worker, "capture.read", object())


def test_parse_role() -> None:
    assert parse_role("ADMIN") is Role.ADMIN and parse_role(Role.REVIEWER) is Role.REVIEWER
    with pytest.raises(StoreError, match="did you mean 'admin'"):
        parse_role("admn")


def test_user_repr_shows_no_data(world: World) -> None:
    assert repr(world.patient) == f"<Patient id={world.patient.id}>"
    assert "worker" not in repr(world.worker)
    assert isinstance(world.worker, User)
