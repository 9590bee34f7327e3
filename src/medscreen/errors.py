"""Errors raised by medscreen.

Every error a user can cause is a :class:`MedscreenError`. Its message names the
file or field, says what was found and what was expected, and what to do. The
command line turns it into a one-line message and a non-zero exit status.
"""

from __future__ import annotations

__all__ = [
    "MedscreenError",
    "ImageReadError",
    "DatasetLayoutError",
    "ManifestError",
    "SplitError",
    "ConfigError",
    "ModelError",
]


class MedscreenError(Exception):
    """Base class of every error medscreen raises on bad input or configuration."""


class ImageReadError(MedscreenError):
    """An image (or mask) file cannot be read: missing, corrupt, too large or not an image."""


class DatasetLayoutError(MedscreenError):
    """A folder does not have the layout of the dataset it was read as."""


class ManifestError(MedscreenError):
    """A CSV manifest is malformed: missing column, bad path, unknown label."""


class SplitError(MedscreenError):
    """A split cannot be made as asked (too few patients per class, bad fractions)."""


class ConfigError(MedscreenError):
    """A setting has a value medscreen cannot use."""


class ModelError(MedscreenError):
    """A model file is missing, corrupt, or does not fit the task it is used for."""
