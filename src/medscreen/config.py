"""One settings object for medscreen, read from ``MEDSCREEN_*`` environment variables.

:class:`Settings` has four sections — ``paths``, ``limits``, ``server`` and
``database`` — plus ``seed`` and ``num_workers``. A section's field is set as
``MEDSCREEN_<SECTION>__<FIELD>`` (e.g. ``MEDSCREEN_LIMITS__MAX_IMAGE_PIXELS``);
the documented short names keep working (``MEDSCREEN_HOME``,
``MEDSCREEN_DATA_DIR``, ``MEDSCREEN_MAX_IMAGE_PIXELS``, ``MEDSCREEN_MAX_IMAGE_BYTES``,
``MEDSCREEN_DATABASE_URL``, see :data:`SHORT_NAMES`); the nested form wins
when both are set.

Library code never reads ``os.environ``: it receives a :class:`Settings` (the
command line calls :func:`get_settings` once and passes it down). Where a library
function's ``settings`` is omitted it uses :func:`default_settings` — the built-in
defaults, not the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from medscreen.errors import ConfigError
from medscreen.i18n import parse_optional_language

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "SHORT_NAMES",
    "DatabaseSettings",
    "LimitSettings",
    "PathSettings",
    "ServerSettings",
    "Settings",
    "default_data_dir",
    "default_home",
    "default_settings",
    "get_settings",
]

ENV_PREFIX = "MEDSCREEN_"
#: largest image accepted, in pixels (decompression-bomb guard); ``MEDSCREEN_MAX_IMAGE_PIXELS``
DEFAULT_MAX_IMAGE_PIXELS = 60_000_000
#: largest image file accepted, in bytes; ``MEDSCREEN_MAX_IMAGE_BYTES``
DEFAULT_MAX_IMAGE_BYTES = 100_000_000


def default_data_dir() -> Path:
    """The datasets folder used when ``MEDSCREEN_DATA_DIR`` is not set.

    The project keeps the public datasets in ``../shared/data`` beside the
    checkout; from an installed package the current directory's
    ``../shared/data`` is tried.
    """
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


def default_home() -> Path:
    """The clinic app's data folder when ``MEDSCREEN_HOME`` is not set: one per user, wherever the system keeps
    application data (``~/.local/share/medscreen`` on Linux, ``~/Library/Application Support/medscreen`` on macOS,
    ``%LOCALAPPDATA%\\medscreen`` on Windows), so every command run from any folder finds the same database."""
    import platformdirs

    return Path(platformdirs.user_data_dir("medscreen", appauthor=False))


class PathSettings(BaseModel):
    """Folders: the clinic app's data folder and the public datasets."""

    home: Path = Field(default_factory=default_home,
                       description="The clinic app's data folder (database, images); one per user by default.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Folder of public datasets.")


class LimitSettings(BaseModel):
    """Limits on accepted requests and images."""

    max_image_pixels: int = Field(
        DEFAULT_MAX_IMAGE_PIXELS, gt=0,
        description="Images with more pixels than this are refused (decompression-bomb guard).",
    )
    max_image_bytes: int = Field(DEFAULT_MAX_IMAGE_BYTES, gt=0, description="Largest image file accepted, in bytes.")
    max_fundus_pixels: int = Field(
        40_000_000, gt=0,
        description="Largest fundus photo accepted by the clinic app, in pixels (fundus cameras make 5-24 MP).",
    )
    max_ultrasound_pixels: int = Field(
        16_000_000, gt=0,
        description="Largest ultrasound image accepted by the clinic app, in pixels (scanners export under 2 MP).",
    )
    min_image_side: int = Field(
        32, ge=1, description="Uploads with a side shorter than this are refused as too small to screen.",
    )
    max_image_aspect: float = Field(
        8.0, ge=1, description="Uploads longer than this many times their width (or wider) are refused.",
    )
    max_concurrent_decodes: int = Field(
        2, ge=1, description="Uploaded images decoded at once by the clinic app (each may take hundreds of MB).",
    )
    max_body_bytes: int = Field(
        DEFAULT_MAX_IMAGE_BYTES + 1_000_000, gt=0,
        description="Largest request body of any route, in bytes (an image plus the form around it).",
    )
    max_json_bytes: int = Field(
        64 * 1024, gt=0,
        description="Largest JSON or url-encoded form body, and largest body of a request not signed in, in bytes.",
    )


class ServerSettings(BaseModel):
    """The clinic web app's sessions, sign-in throttling, API docs and automatic backups."""

    session_cookie: str = Field("medscreen_session", min_length=1, description="Name of the session cookie.")
    session_max_age_s: int = Field(12 * 3600, gt=0, description="Seconds a login lasts (ended sooner by logout).")
    same_site: Literal["lax", "strict", "none"] = Field("lax", description="The cookie's SameSite attribute.")
    https_only: bool = Field(
        False, description="Always mark the cookie Secure (it is marked Secure on HTTPS requests regardless).",
    )
    login_window_s: int = Field(900, gt=0, description="Seconds over which failed sign-ins are counted.")
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed sign-ins to one account within the window before it is refused (429).",
    )
    login_failures_per_address: int = Field(
        20, ge=1, description="Failed sign-ins from one client address within the window before it is refused (429).",
    )
    max_concurrent_password_hashes: int = Field(
        2, ge=1, description="Password checks run at once (Argon2 takes memory and CPU); others wait.",
    )
    password_hash_wait_s: float = Field(
        5.0, gt=0, description="Seconds a sign-in waits for a password-check slot before it is answered 503.",
    )
    storage_retry_s: float = Field(
        60.0, gt=0, description="Seconds between retries of screenings that failed because storage was full.",
    )
    leftover_grace_s: float = Field(
        0.0, ge=0, description="At start, image files no record refers to and temporary files older than this "
                               "are removed (0: all; one server per data folder).",
    )
    api_docs: bool = Field(True, description="Serve /api/docs and /openapi.json (to signed-in users only).")
    tls_cert: Path | None = Field(None, description="A clinic's own TLS certificate (PEM) for `serve --tls`; "
                                                    "default the one `medscreen tls init` made.")
    tls_key: Path | None = Field(None, description="The private key (PEM) of tls_cert.")
    access_log: bool = Field(True, description="Log each request (method, route, status, time; no patient data) "
                                               "to <data folder>/logs/access.log.")
    access_log_max_bytes: int = Field(5_000_000, gt=0, description="Size at which the access log is rotated.")
    access_log_backups: int = Field(5, ge=0, description="Rotated access logs kept.")
    backup_interval_hours: float = Field(
        0.0, ge=0, description="Hours between automatic backups while `serve` runs (0: off). Each is a "
                               "`medscreen backup` archive medscreen-backup-<UTC time>.tar in backup_dir.")
    backup_keep: int = Field(7, ge=1, description="Automatic backups kept; older ones are deleted.")
    backup_dir: Path | None = Field(
        None, description="Folder of the automatic backups; default <data folder>/backups (left out of backups). "
                          "Another disk protects against losing the laptop's disk.")
    language: str | None = Field(
        None, description="Language of the pages for people not signed in and users who chose none (en, fr); "
                          "unset: the browser's language when it is one of these, else English.")

    @field_validator("language")
    @classmethod
    def _shipped_language(cls, value: str | None) -> str | None:
        try:
            return parse_optional_language(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class DatabaseSettings(BaseModel):
    """Where the clinic database lives."""

    url: str | None = Field(None, description="A SQLAlchemy URL; default SQLite in the data folder.")


#: short environment names (after ``MEDSCREEN_``) → (section, field)
SHORT_NAMES: dict[str, tuple[str, str]] = {
    "HOME": ("paths", "home"),
    "DATA_DIR": ("paths", "data_dir"),
    "MAX_IMAGE_PIXELS": ("limits", "max_image_pixels"),
    "MAX_IMAGE_BYTES": ("limits", "max_image_bytes"),
    "DATABASE_URL": ("database", "url"),
    "LANGUAGE": ("server", "language"),
}


class _ShortNames(PydanticBaseSettingsSource):
    """The documented short variables (``MEDSCREEN_HOME`` …) as nested values; blank counts as unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, (section, key) in SHORT_NAMES.items():
            value = os.environ.get(ENV_PREFIX + name, "").strip()
            if value:
                values.setdefault(section, {})[key] = value
        return values


class Settings(BaseSettings):
    """medscreen settings (see the module docstring for the environment variables)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    paths: PathSettings = Field(default_factory=PathSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    seed: int = Field(default=42, description="Default random seed for splits and training.")
    num_workers: int = Field(default=0, ge=0, description="Training data-loading worker processes (0 = main process).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _ShortNames(settings_cls), dotenv_settings, file_secret_settings


def default_settings() -> Settings:
    """Settings at their built-in defaults, ignoring the environment (what library functions use when not given any)."""
    return Settings.model_construct()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process (for the command line, the process boundary).

    Raises:
        ConfigError: a ``MEDSCREEN_*`` variable has a value the setting refuses (the message names it).
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MEDSCREEN_{'__'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{problems}; fix or unset the environment variable") from None
