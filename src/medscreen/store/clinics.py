"""Clinics: found or created by name, where names differing only by case or spacing are one clinic.

"Kisumu", "kisumu" and " Kisumu  " name the same place: a new clinic whose
name matches an existing one but for case or spacing is refused with the
existing name, so a typo cannot split a clinic's patients in two. The rule is
checked here rather than by a unique index so that a database which already
holds such a pair (made before this rule) still migrates and opens.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from medscreen.store.errors import StoreError
from medscreen.store.models import Clinic

__all__ = ["ClinicNameError", "clinic_key", "find_or_create_clinic", "list_clinics", "rename_clinic"]

MAX_NAME = 200


class ClinicNameError(StoreError):
    """A clinic name that is blank, too long, or another clinic's name in other case or spacing."""


def clinic_key(name: str) -> str:
    """The form two clinic names are compared in: spacing collapsed, case folded (``" Kisumu  West"`` → ``kisumu west``)."""
    return " ".join(name.split()).casefold()


def find_or_create_clinic(session: Session, name: str, *, create: bool = True) -> Clinic:
    """The clinic called exactly ``name`` (spacing collapsed); a new one when none is and ``create``.

    Args:
        session: the database session (the new clinic is added, not committed).
        name: the clinic's name as typed.
        create: make the clinic when it does not exist.

    Raises:
        ClinicNameError: the name is blank or over 200 characters; or it matches an existing clinic but for
            case or spacing (the message gives the existing name); or it does not exist and ``create`` is False.
    """
    tidy = _tidy(name)
    exact = session.scalar(select(Clinic).where(Clinic.name == tidy))
    if exact is not None:
        return exact
    _refuse_similar(session, name, tidy, None)
    if not create:
        raise ClinicNameError(f"no clinic {tidy!r}; check the name")
    clinic = Clinic(name=tidy)
    session.add(clinic)
    session.flush()
    return clinic


def _tidy(name: str) -> str:
    tidy = " ".join(name.split())
    if not tidy or len(tidy) > MAX_NAME:
        raise ClinicNameError(f"clinic name {name!r} must be 1-{MAX_NAME} characters; give the clinic's name")
    return tidy


def _refuse_similar(session: Session, name: str, tidy: str, other_than: Clinic | None) -> None:
    key = clinic_key(tidy)
    similar = [c for c in session.scalars(select(Clinic)) if clinic_key(c.name) == key and c is not other_than]
    if similar:
        raise ClinicNameError(
            f"clinic {name!r} differs from the existing clinic {similar[0].name!r} only by case or spacing; "
            f"use {similar[0].name!r}, or choose a name that differs"
        )


def list_clinics(session: Session) -> list[Clinic]:
    """Every clinic, by name."""
    return list(session.scalars(select(Clinic).order_by(Clinic.name)))


def rename_clinic(session: Session, clinic: Clinic, name: str) -> None:
    """Rename a clinic (its users and patients stay with it); the new name must not be another clinic's.

    Raises:
        ClinicNameError: blank or too long, or another clinic's name in any case or spacing.
    """
    tidy = _tidy(name)
    _refuse_similar(session, name, tidy, clinic)
    clinic.name = tidy
    session.flush()
