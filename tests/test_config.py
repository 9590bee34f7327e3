"""Settings: nested sections, the documented short variable names, defaults that ignore the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from medscreen.config import DEFAULT_MAX_IMAGE_PIXELS, Settings, default_settings
from medscreen.io import DEFAULT_MAX_PIXELS


def test_short_and_nested_variable_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDSCREEN_HOME", str(tmp_path))
    monkeypatch.setenv("MEDSCREEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDSCREEN_MAX_IMAGE_PIXELS", "1000")
    monkeypatch.setenv("MEDSCREEN_DATABASE_URL", "sqlite://")
    monkeypatch.setenv("MEDSCREEN_SEED", "7")
    monkeypatch.setenv("MEDSCREEN_SERVER__HTTPS_ONLY", "true")
    s = Settings()
    assert (s.paths.home, s.paths.data_dir) == (tmp_path, tmp_path / "data")
    assert (s.limits.max_image_pixels, s.database.url, s.seed, s.server.https_only) == (1000, "sqlite://", 7, True)
    monkeypatch.setenv("MEDSCREEN_LIMITS__MAX_IMAGE_PIXELS", "2000")  # the nested name wins
    assert Settings().limits.max_image_pixels == 2000


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSCREEN_MAX_IMAGE_PIXELS", "-1")
    with pytest.raises(ValidationError, match="max_image_pixels"):
        Settings()


def test_default_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSCREEN_MAX_IMAGE_PIXELS", "1000")
    monkeypatch.setenv("MEDSCREEN_DATABASE_URL", "sqlite://")
    s = default_settings()
    assert s.limits.max_image_pixels == DEFAULT_MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS and s.database.url is None
    assert s.server.session_cookie == "medscreen_session" and s.server.session_max_age_s == 12 * 3600


def test_a_bad_variable_is_named_at_the_command_line_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    from medscreen.config import get_settings
    from medscreen.errors import ConfigError

    monkeypatch.setenv("MEDSCREEN_LIMITS__MAX_IMAGE_PIXELS", "abc")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="MEDSCREEN_LIMITS__MAX_IMAGE_PIXELS: .*fix or unset"):
            get_settings()
    finally:
        get_settings.cache_clear()
