"""Errors raised by medscreen.

Every error a user can cause is a :class:`MedscreenError`. Its message names the
file or field, says what was found and what was expected, and what to do. The
command line turns it into a one-line message and a non-zero exit status.
:func:`choose`, :func:`did_you_mean` and :func:`closest` are the one "did you
mean" suggestion every unknown name gets.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "MedscreenError",
    "ImageReadError",
    "DatasetLayoutError",
    "ManifestError",
    "SplitError",
    "ConfigError",
    "ModelError",
    "closest",
    "did_you_mean",
    "choose",
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


def closest(value: object, choices: Iterable[str], *, cutoff: float = 0.6, fold: bool = False) -> str | None:
    """The entry of ``choices`` most like ``value`` (:func:`difflib.get_close_matches`), or None.

    ``fold``: compare case-folded, return the choice as spelt in ``choices``.
    """
    options = list(choices)
    if fold:
        folded = {c.casefold(): c for c in options}
        match = difflib.get_close_matches(str(value).casefold(), list(folded), n=1, cutoff=cutoff)
        return folded[match[0]] if match else None
    match = difflib.get_close_matches(str(value), options, n=1, cutoff=cutoff)
    return match[0] if match else None


def did_you_mean(value: object, choices: Iterable[str], *, cutoff: float = 0.6, fold: bool = False,
                 sentence: bool = False) -> str:
    """``"; did you mean 'x'?"`` (``sentence``: ``" Did you mean 'x'?"``) for the closest choice, else ``""``."""
    match = closest(value, choices, cutoff=cutoff, fold=fold)
    if match is None:
        return ""
    return f" Did you mean {match!r}?" if sentence else f"; did you mean {match!r}?"


def choose(value: str, choices: Iterable[str], what: str, *, cutoff: float = 0.6) -> str:
    """Return ``value`` if it is one of ``choices``, else raise with the choices and the closest one.

    Raises:
        ConfigError: ``unknown <what> 'x'; choose one of a, b. Did you mean 'a'?``
    """
    options = list(choices)
    if value in options:
        return value
    raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(options)}."
                      + did_you_mean(value, options, cutoff=cutoff, sentence=True))
