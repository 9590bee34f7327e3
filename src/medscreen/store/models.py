"""The clinic database: SQLAlchemy 2 typed declarative tables.

A :class:`Patient` of a :class:`Clinic` has :class:`Visit` s (for ultrasound a
visit is the *study*); each visit has :class:`Capture` s, one uploaded
:class:`Image` each (an OD/OS eye for fundus photos, no eye for ultrasound);
each capture has :class:`Screening` s (the pipeline's result) and each
screening :class:`Review` s by a reviewer. Images are stored once, by content
hash, in the data folder (:mod:`medscreen.store.blobs`). :class:`AuditEvent`
rows record who touched which record, by id only: never a name or any other
patient data.

Enumerations are stored as short strings with a CHECK constraint (not native
PostgreSQL enums, so adding a value is a plain migration). Timestamps are
timezone-aware UTC on every backend (:class:`UTCDateTime`). The schema is
created by the Alembic migrations in ``medscreen/store/migrations``, never by
``create_all``; a test checks the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from medscreen.store.errors import StoreError
from medscreen.tasks import task_names

__all__ = [
    "Advice",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Capture",
    "Clinic",
    "Decision",
    "Eye",
    "Image",
    "LoginSession",
    "Modality",
    "Patient",
    "Review",
    "ReviewTask",
    "Role",
    "Screening",
    "ScreeningStatus",
    "Sex",
    "User",
    "UTCDateTime",
    "Visit",
    "utcnow",
]

#: constraint names Alembic can find again on every backend
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(StrEnum):
    """What a user may do; see :data:`medscreen.store.users.PERMISSIONS`."""

    HEALTH_WORKER = "health_worker"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Modality(StrEnum):
    """What a visit captures: fundus photos, or a breast ultrasound study."""

    FUNDUS = "fundus"
    ULTRASOUND = "ultrasound"


class Eye(StrEnum):
    """OD = right eye, OS = left eye."""

    OD = "OD"
    OS = "OS"


class ScreeningStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Advice(StrEnum):
    """The pipeline's advice (:data:`medscreen.pipelines.schema.Advice`)."""

    REFER = "refer"
    REVIEW = "review"
    RESCREEN = "rescreen"
    ROUTINE = "routine"


class Decision(StrEnum):
    """A reviewer confirms the model's finding, or corrects it with their own label."""

    CONFIRM = "confirm"
    CORRECT = "correct"


#: The finding a review is about: the task table's reviewed tasks (GLAUCOMA = "glaucoma", …,
#: BREAST_CLASS = "breast-class"). A new reviewed task also needs a migration for the
#: ``ck_reviews_task`` CHECK constraint; ``tests/store/test_store_database.py`` compares the DDL.
ReviewTask = StrEnum(  # type: ignore[misc]
    "ReviewTask", {name.upper().replace("-", "_"): name for name in task_names(reviewed=True)}
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no time zone, so values are converted to UTC before storing
    and read back as UTC; a naive datetime is refused rather than guessed.
    PostgreSQL hands a ``timestamptz`` back in the server's (or connection's)
    ``TimeZone``, e.g. +03:00: it is converted to UTC too, so a value reads the
    same whatever the server's setting.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _require_aware(value, "datetime").astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _require_aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(
            f"{field} {value.isoformat()} has no time zone; give an aware datetime, "
            "e.g. datetime.now(UTC) or dt.replace(tzinfo=ZoneInfo('Africa/Nairobi'))"
        )
    return value


def _enum(cls: type[StrEnum], name: str) -> Enum:
    """Stored as the member's value in a VARCHAR with a named CHECK constraint."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(m.value) for m in cls),
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}

    def __repr__(self) -> str:
        """Class and primary key only: a repr never shows patient data (it may reach a log)."""
        return f"<{type(self).__name__} id={getattr(self, 'id', None)}>"


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="clinic")
    patients: Mapped[list[Patient]] = relationship(back_populates="clinic")


class User(Base):
    """An account. Health workers and reviewers belong to one clinic; an admin may have none."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: a code of :data:`medscreen.i18n.LANGUAGES`; None: the server's default (else the browser's)
    language: Mapped[str | None] = mapped_column(String(8))

    clinic: Mapped[Clinic | None] = relationship(back_populates="users")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")
    login_sessions: Mapped[list[LoginSession]] = relationship(back_populates="user")


class ApiToken(Base):
    """A token for scripts; only its SHA-256 is stored (the token is shown once, at creation)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginSession(Base):
    """A signed-in browser session; the cookie holds the random id, only its SHA-256 is stored.

    A session ends at ``expires_at``, or when ``revoked_at`` is set (logout,
    password change, deactivation).
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="login_sessions")


class Patient(Base):
    """A patient of one clinic; ``clinic_ref`` is the clinic's own id for them (unique within the clinic)."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("clinic_id", "clinic_ref", name="uq_patients_clinic_id_clinic_ref"),
        Index("ix_patients_clinic_id_name", "clinic_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    clinic_ref: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[Sex | None] = mapped_column(_enum(Sex, "sex"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinic: Mapped[Clinic] = relationship(back_populates="patients")
    visits: Mapped[list[Visit]] = relationship(back_populates="patient", order_by="Visit.taken_at")


class Visit(Base):
    """One visit of a patient (fundus photos) or one breast ultrasound study."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_patient_id_taken_at", "patient_id", "taken_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    modality: Mapped[Modality] = mapped_column(_enum(Modality, "modality"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="visits")
    created_by: Mapped[User] = relationship()
    captures: Mapped[list[Capture]] = relationship(back_populates="visit", order_by="Capture.id")

    @validates("taken_at")
    def _check_taken_at(self, _key: str, value: datetime) -> datetime:
        return _require_aware(value, "visit taken_at")


class Image(Base):
    """An image file, stored once by content: ``path`` is relative to the data folder."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(255))
    byte_size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Capture(Base):
    """One image uploaded to a visit: an eye's photo (OD/OS) or an ultrasound image (no eye)."""

    __tablename__ = "captures"
    __table_args__ = (Index("ix_captures_uploaded_by_id_idempotency_key", "uploaded_by_id", "idempotency_key",
                            unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    eye: Mapped[Eye | None] = mapped_column(_enum(Eye, "eye"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when the health worker answered the laterality question (kept or moved the eye); None: not asked or open
    eye_confirmed_at: Mapped[datetime | None]
    #: the client's key for this upload (one per upload form): a retried upload returns this capture
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    #: the photo as the camera saved it, when the page reduced it before upload (the stored image is the reduced one)
    original_byte_size: Mapped[int | None] = mapped_column(Integer)
    original_width: Mapped[int | None] = mapped_column(Integer)
    original_height: Mapped[int | None] = mapped_column(Integer)

    visit: Mapped[Visit] = relationship(back_populates="captures")
    image: Mapped[Image] = relationship()
    uploaded_by: Mapped[User] = relationship()
    screenings: Mapped[list[Screening]] = relationship(back_populates="capture", order_by="Screening.id")


class Screening(Base):
    """One run of the screening pipeline on a capture; ``result_json`` is its ``ScreeningResult``.

    The columns beside ``result_json`` copy the values that lists, the review
    queue and the follow-up timeline query.
    """

    __tablename__ = "screenings"
    __table_args__ = (Index("ix_screenings_status_advice", "status", "advice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id"), index=True)
    status: Mapped[ScreeningStatus] = mapped_column(_enum(ScreeningStatus, "status"), default=ScreeningStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    result_json: Mapped[dict[str, Any] | None]
    advice: Mapped[Advice | None] = mapped_column(_enum(Advice, "advice"))
    glaucoma_probability: Mapped[float | None] = mapped_column(Float)
    progression_probability: Mapped[float | None] = mapped_column(Float)
    disc_diameter_px: Mapped[float | None] = mapped_column(Float)
    breast_label: Mapped[str | None] = mapped_column(String(32))
    model_hashes: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    #: ``{"reasons": [...], "quality_reasons": [...]}``: the result's reasons as translatable messages
    #: (:meth:`medscreen.i18n.Message.to_json`); None for screenings stored before them (English only)
    messages_json: Mapped[dict[str, Any] | None]

    capture: Mapped[Capture] = relationship(back_populates="screenings")
    reviews: Mapped[list[Review]] = relationship(back_populates="screening", order_by="Review.id")


class Review(Base):
    """A reviewer's verdict on one finding (``task``) of a screening.

    ``confirm`` keeps the model's finding; ``correct`` gives the reviewer's
    ``label`` in the task's vocabulary (``glaucoma``/``normal``,
    ``progressing``/``stable``, ``normal``/``benign``/``malignant``).
    A screening has one current review: a newer one sets ``superseded_at`` on the
    others (kept for audit). ``seen_at``: when a health worker first opened the
    visit after the review.
    """

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_screening_id_created_at", "screening_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    task: Mapped[ReviewTask] = mapped_column(_enum(ReviewTask, "task"))
    decision: Mapped[Decision] = mapped_column(_enum(Decision, "decision"))
    label: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]

    screening: Mapped[Screening] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class AuditEvent(Base):
    """Who did what to which record, when and from where: ids only, never patient data."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object_type_object_id", "object_type", "object_id"),
        Index("ix_audit_events_user_id_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
