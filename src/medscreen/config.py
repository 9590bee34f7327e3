"""One settings object for medscreen, read from ``MEDSCREEN_*`` environment variables.

Library code never reads ``os.environ``: it receives a :class:`Settings` (or
calls :func:`get_settings` at the command-line boundary).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "default_data_dir"]


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


class Settings(BaseSettings):
    """medscreen settings; each field can be set as ``MEDSCREEN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MEDSCREEN_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Folder of public datasets.")
    max_image_pixels: int = Field(
        default=60_000_000,
        gt=0,
        description="Images with more pixels than this are refused (decompression-bomb guard).",
    )
    max_image_bytes: int = Field(default=100_000_000, gt=0, description="Largest image file accepted, in bytes.")
    seed: int = Field(default=42, description="Default random seed for splits and training.")
    num_workers: int = Field(default=0, ge=0, description="Data-loading worker processes (0 = main process).")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
