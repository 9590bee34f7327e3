"""Clinic names: found exactly, spacing tidied, and a near-duplicate (case or spacing only) refused."""

from __future__ import annotations

import pytest

from medscreen.store.clinics import ClinicNameError, clinic_key, find_or_create_clinic


def test_clinic_key_folds_case_and_spacing() -> None:
    assert clinic_key("  Kisumu   West ") == clinic_key("kisumu west") == "kisumu west"


def test_find_or_create_clinic(session) -> None:
    kisumu = find_or_create_clinic(session, "Kisumu")
    assert find_or_create_clinic(session, " Kisumu ") is kisumu
    with pytest.raises(ClinicNameError, match="'Kisumu' only by case or spacing"):
        find_or_create_clinic(session, "kisumu")
    with pytest.raises(ClinicNameError, match="only by case or spacing"):
        find_or_create_clinic(session, "KISUMU")
    assert find_or_create_clinic(session, "Kisumu West").id != kisumu.id  # a different name is a new clinic
    evora = find_or_create_clinic(session, "Évora")
    with pytest.raises(ClinicNameError, match="'Évora' only by case"):  # case beyond ASCII, on every backend
        find_or_create_clinic(session, "ÉVORA")
    assert find_or_create_clinic(session, "Évora") is evora
    with pytest.raises(ClinicNameError, match="1-200 characters"):
        find_or_create_clinic(session, "   ")
    with pytest.raises(ClinicNameError, match="no clinic"):
        find_or_create_clinic(session, "Nakuru", create=False)
