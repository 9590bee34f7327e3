"""Helpers the dataset readers share: finding a layout's folder, listing files, layout errors.

Private to :mod:`medscreen.datasets`; readers only index names, they never open pixels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from medscreen.errors import DatasetLayoutError

__all__ = ["find_child", "resolve_root", "layout_error", "list_files", "natural_key"]

# Files that operating systems and archivers leave behind; never reported as unexpected.
_IGNORED = {"thumbs.db", "desktop.ini", "__macosx"}


def _normalize(name: str) -> str:
    return " ".join(name.split()).casefold()


def find_child(folder: Path, name: str, *, is_dir: bool = True) -> Path | None:
    """``folder / name`` if it exists, else a child whose name matches ignoring case and spacing.

    Published names such as ``A. Segmentation`` are sometimes re-cased or
    re-spaced by unzip tools; the exact name is tried first so that the common
    case costs one ``stat``.
    """
    exact = folder / name
    if exact.is_dir() if is_dir else exact.is_file():
        return exact
    if not folder.is_dir():
        return None
    wanted = _normalize(name)
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if _normalize(entry.name) == wanted and (entry.is_dir() if is_dir else entry.is_file()):
                    return Path(entry.path)
    except OSError:
        return None
    return None


def resolve_root(root: Path, is_layout: Callable[[Path], bool], inner: Sequence[str] = ()) -> Path | None:
    """The folder holding the layout: ``root`` itself or one of its ``inner`` children (tried in order)."""
    root = Path(root)
    if not root.is_dir():
        return None
    if is_layout(root):
        return root
    for name in inner:
        child = find_child(root, name)
        if child is not None and is_layout(child):
            return child
    return None


def layout_error(dataset: str, root: Path, expected: str, fix: str = "") -> DatasetLayoutError:
    """A :class:`DatasetLayoutError` saying which folder, what the layout expects and what to do."""
    root = Path(root)
    if not root.exists():
        found = "the folder does not exist"
    elif not root.is_dir():
        found = "it is a file, not a folder"
    else:
        names = sorted(p.name for p in root.iterdir())
        shown = ", ".join(repr(n) for n in names[:8]) + (", ..." if len(names) > 8 else "")
        found = f"it contains {shown}" if names else "it is empty"
    fix = fix or (
        f"Point to the {dataset} folder as published (unzipped, names unchanged), "
        "or describe your own images with a CSV manifest (--manifest)."
    )
    return DatasetLayoutError(f"{root}: not a {dataset} folder ({found}); expected {expected}. {fix}")


def list_files(folder: Path) -> list[Path]:
    """Files directly in ``folder``, naturally sorted, without hidden and system files."""
    with os.scandir(folder) as entries:
        files = [
            Path(e.path)
            for e in entries
            if e.is_file() and not e.name.startswith(".") and e.name.casefold() not in _IGNORED
        ]
    return sorted(files, key=lambda p: natural_key(p.name))


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders ``benign (2)`` before ``benign (10)``."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name))
