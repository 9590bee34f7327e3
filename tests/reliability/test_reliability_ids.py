"""Item 4: an id outside 1 … 2**63-1 is answered 422 on every route (and 404 when in range but missing)."""

from __future__ import annotations

import re

import pytest
from reliability_support import Browser, World

from medscreen.server.schemas import MAX_RECORD_ID

_ID = re.compile(r"\{(\w+_id)\}")


def _all_routes(routes):
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        yield from _all_routes(included.routes) if included is not None else [route]


def _id_routes(app) -> list[tuple[str, str]]:
    routes = []
    for route in _all_routes(app.routes):
        path = getattr(route, "path", "")
        if _ID.search(path):
            for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
                routes.append((method, path))
    return routes


def test_every_id_route_is_covered(world: World) -> None:
    assert len(_id_routes(world.app)) >= 15


@pytest.mark.parametrize("value", [str(MAX_RECORD_ID + 1), str(2**64), "99999999999999999999999999", "0", "-1"])
def test_out_of_range_ids_are_422_everywhere(world: World, browsers: dict[str, Browser], value: str) -> None:
    admin = browsers["admin"]
    for method, path in _id_routes(world.app):
        url = _ID.sub(value, path)
        if method == "GET":
            r = admin.client.get(url, params={"eye": "OD"})
        else:
            r = admin.client.post(url, headers={"X-CSRF-Token": admin.csrf},
                                  data={"csrf_token": admin.csrf, "decision": "confirm"})
        assert r.status_code == 422, (method, url, r.status_code, r.text[:200])


def test_largest_id_is_a_plain_404(world: World, browsers: dict[str, Browser]) -> None:
    admin = browsers["admin"]
    for method, path in _id_routes(world.app):
        if method != "GET":
            continue
        r = admin.client.get(_ID.sub(str(MAX_RECORD_ID), path), params={"eye": "OD"})
        assert r.status_code == 404, (path, r.status_code)


def test_ids_in_bodies_are_checked_too(browsers: dict[str, Browser]) -> None:
    admin = browsers["admin"]
    r = admin.api_post("/api/v1/visits", json={"patient_id": MAX_RECORD_ID + 1, "modality": "fundus"})
    assert r.status_code == 422
    r = admin.api_post("/api/v1/patients", json={"name": "Big Clinic", "clinic_id": 2**70})
    assert r.status_code == 422
