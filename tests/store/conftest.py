"""Fixtures of the store tests: a migrated database per test on each backend, an image store, a small clinic world."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from database_support import database_of
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from store_support import PASSWORD, World

from medscreen.store import users as users_module
from medscreen.store.blobs import BlobStore
from medscreen.store.database import make_engine, session_factory, upgrade
from medscreen.store.models import Clinic, Patient, Role, Sex, User


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with tiny costs: the tests check the logic, not the cost."""
    cheap = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    monkeypatch.setattr(users_module, "_hasher", lambda: cheap)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated once; each test gets a copy (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "medscreen.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # checkpoints the WAL into the file
    return path


@pytest.fixture
def data_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, data_home: Path) -> Iterator[str]:
    """The URL of this test's migrated database: a copy of a migrated SQLite file, or of a PostgreSQL template."""
    with database_of(backend, request, data_home) as url:
        if backend == "sqlite":
            shutil.copyfile(request.getfixturevalue("migrated_template"), data_home / "medscreen.db")
        yield url


@pytest.fixture
def empty_database(backend: str, request: pytest.FixtureRequest, data_home: Path) -> Iterator[str]:
    """The URL of a database of this test that was never migrated (the migration tests start from it)."""
    with database_of(backend, request, data_home, migrated=False) as url:
        yield url


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    engine = make_engine(database)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


@pytest.fixture
def blobs(data_home: Path) -> BlobStore:
    return BlobStore(data_home)


def _user(session: Session, name: str, role: Role, clinic: Clinic | None) -> User:
    return users_module.create_user(session, name, PASSWORD, role, clinic)


@pytest.fixture
def world(session: Session) -> World:
    a, b = Clinic(name="Clinic A"), Clinic(name="Clinic B")
    session.add_all([a, b])
    patient = Patient(clinic=a, clinic_ref="A-001", name="Amina Odhiambo", birth_year=1961, sex=Sex.FEMALE)
    patient_b = Patient(clinic=b, clinic_ref="B-001", name="Baraka Mwangi", birth_year=1958, sex=Sex.MALE)
    session.add_all([patient, patient_b])
    w = World(
        clinic_a=a,
        clinic_b=b,
        worker=_user(session, "worker", Role.HEALTH_WORKER, a),
        reviewer=_user(session, "reviewer", Role.REVIEWER, a),
        admin=_user(session, "admin", Role.ADMIN, None),
        worker_b=_user(session, "worker.b", Role.HEALTH_WORKER, b),
        reviewer_b=_user(session, "reviewer.b", Role.REVIEWER, b),
        patient=patient,
        patient_b=patient_b,
    )
    session.commit()
    return w
