"""The admins' pages: users, clinics, audit log; admins only, CSRF-checked, audited."""

from __future__ import annotations

import csv
import html
import io
import re

from server_support import PASSWORD, Browser, World
from sqlalchemy import select

from medscreen.store.models import AuditEvent, Clinic, Role, User


def _user(world: World, name: str) -> User:
    with world.app.state.sessions() as s:
        return s.scalar(select(User).where(User.username == name))


def test_only_admins_reach_the_admin_pages(browsers: dict[str, Browser]) -> None:
    for path in ("/admin/users", "/admin/clinics", "/admin/audit"):
        assert browsers["admin"].client.get(path).status_code == 200, path
        assert browsers["worker"].client.get(path).status_code == 403, path
        assert browsers["reviewer"].client.get(path).status_code == 403, path
    page = browsers["admin"].client.get("/admin/users").text
    assert 'href="/admin/users"' in page and 'href="/admin/audit"' in page
    assert 'href="/admin/users"' not in browsers["worker"].client.get("/patients").text


def test_admin_manages_a_user_from_the_browser(world: World, browsers: dict[str, Browser]) -> None:
    admin = browsers["admin"]
    post = lambda url, **data: admin.client.post(url, data={"csrf_token": admin.csrf, **data})  # noqa: E731
    r = post("/admin/users", username="nurse.web", password=PASSWORD, role="health_worker",
             clinic_id=str(world.clinic_a))
    assert r.status_code == 303, r.text
    nurse = _user(world, "nurse.web")
    assert nurse.role is Role.HEALTH_WORKER and nurse.clinic_id == world.clinic_a
    assert Browser(world.app, "nurse.web").client.get("/patients").status_code == 200

    r = post(f"/admin/users/{nurse.id}/role", role="reviewer", clinic_id=str(world.clinic_b))
    assert r.status_code == 303 and _user(world, "nurse.web").role is Role.REVIEWER
    r = post(f"/admin/users/{nurse.id}/role", role="reviewer", clinic_id="")
    assert r.status_code == 422 and "belongs to a clinic" in r.text
    r = post(f"/admin/users/{nurse.id}/password", password="short")
    assert r.status_code == 422
    r = post(f"/admin/users/{nurse.id}/password", password="another long password")
    assert r.status_code == 303
    r = post(f"/admin/users/{nurse.id}/active")  # no 'active': deactivate
    assert r.status_code == 303 and not _user(world, "nurse.web").active
    r = post(f"/admin/users/{_user(world, 'admin').id}/active")
    assert r.status_code == 422 and "your own account" in r.text
    r = admin.client.post(f"/admin/users/{nurse.id}/active", data={"csrf_token": "forged", "active": "true"})
    assert r.status_code == 403 and not _user(world, "nurse.web").active

    with world.app.state.sessions() as s:
        actions = {a for (a,) in s.execute(select(AuditEvent.action).where(AuditEvent.object_type == "user",
                                                                           AuditEvent.object_id == str(nurse.id)))}
    assert {"user.create", "user.role", "user.password_reset", "user.deactivate"} <= actions


def test_clinics_differing_only_by_case_or_spacing_are_refused(world: World, browsers: dict[str, Browser]) -> None:
    admin = browsers["admin"]
    post = lambda url, **data: admin.client.post(url, data={"csrf_token": admin.csrf, **data})  # noqa: E731
    assert post("/admin/clinics", name="Kisumu  West").status_code == 303
    r = post("/admin/clinics", name="kisumu west")
    assert r.status_code == 422 and "only by case or spacing" in r.text and "Kisumu West" in r.text
    with world.app.state.sessions() as s:
        west = s.scalar(select(Clinic).where(Clinic.name == "Kisumu West"))
    r = post(f"/admin/clinics/{west.id}/name", name="clinic a")  # another clinic's name, other case
    assert r.status_code == 422 and "'Clinic A'" in html.unescape(r.text)
    assert post(f"/admin/clinics/{west.id}/name", name="KISUMU West").status_code == 303  # its own name, recased
    assert "KISUMU West" in admin.client.get("/admin/clinics").text


def test_audit_log_filters_and_exports_csv(world: World, browsers: dict[str, Browser]) -> None:
    browsers["worker"].client.get(f"/patients/{world.patient_a}")
    admin = browsers["admin"].client
    page = admin.get("/admin/audit", params={"user": "worker", "action": "patient.read",
                                             "patient": str(world.patient_a)})
    assert page.status_code == 200 and "patient.read" in page.text and world.patient_name not in page.text
    rows = list(csv.DictReader(io.StringIO(admin.get("/admin/audit", params={"user": "worker", "format": "csv"}).text)))
    assert rows and {r["user"] for r in rows} == {"worker"}
    assert any(r["action"] == "patient.read" and r["object_id"] == str(world.patient_a) for r in rows)
    assert admin.get("/admin/audit", params={"action": "login."}).status_code == 200
    bad = admin.get("/admin/audit", params={"patient": "Amina"})
    assert bad.status_code == 422 and "patient's number" in html.unescape(bad.text)
    assert "Amina" not in bad.text.split("<main>")[1].split("</form>")[1]  # the typed name is not echoed back
    assert re.search(r"audit\.read", admin.get("/admin/audit").text)  # reading the log is itself audited


def test_models_page_shows_each_bundled_model_with_its_known_limits(browsers: dict[str, Browser]) -> None:
    page = html.unescape(browsers["admin"].client.get("/admin/models").text)
    for task in ("disc", "glaucoma", "progression", "lesion", "breast-class"):
        assert f'id="model-{task}"' in page, task
    assert page.count("the installed file matches its card") == 5
    assert "Known limits" in page and "Leave-one-source-out" in page and "sensitivity" in page
    assert browsers["worker"].client.get("/admin/models").status_code == 403


def test_a_patient_filter_of_other_digits_is_refused_in_words(browsers: dict[str, Browser]) -> None:
    for value in ("²", "٣x", str(2**63)):
        r = browsers["admin"].client.get("/admin/audit", params={"patient": value})
        assert r.status_code == 422 and "patient's number" in html.unescape(r.text), value
