"""Reading GRAPE's workbook sheets: two header rows with merged group cells, columns found by name.

Private to :mod:`medscreen.datasets.grape`. Written by hand (rather than
``pandas.read_excel(header=[0, 1])``) because pandas names the merged cells
``Unnamed: n_level_1`` and mixes them with real names, which makes lookup by
name fragile; here a group name is carried over the cells it was merged across.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from medscreen.errors import DatasetLayoutError

__all__ = ["Sheet", "read_sheets"]

VF_POINTS = 61


def _norm(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split()).casefold()


@dataclass
class Sheet:
    """One sheet: normalised ``(group or name, sub-name or None)`` per column and its data rows."""

    path: Path
    name: str
    header: list[tuple[str | None, str | None]]
    rows: list[tuple[int, tuple[Any, ...]]]  # (spreadsheet row number, cells)

    def where(self, line: int | None = None) -> str:
        """``<file> [<sheet>]`` or ``<file> [<sheet>] row <n>`` for problem messages."""
        return f"{self.path} [{self.name}]" + (f" row {line}" if line is not None else "")

    def column(self, names: Sequence[str], group: str | None = None, *, required: bool = True) -> int | None:
        """Position of the column called one of ``names`` (under ``group`` when it has sub-columns).

        A plain column matches by its own name; a sub-column (``PLR2`` under
        ``Progression Status``) matches by its sub-name within ``group``.

        Raises:
            DatasetLayoutError: a ``required`` column is not found.
        """
        wanted = {_norm(n) for n in names}
        for j, (top, sub) in enumerate(self.header):
            if (sub is None and top in wanted) or (sub in wanted and (group is None or top == _norm(group))):
                return j
        if not required:
            return None
        label = f"{names[0]!r}" + (f" under {group!r}" if group else "")
        found = sorted({f"{t}/{s}" if s else str(t) for t, s in self.header if t and not (s or "").isdigit()})
        raise DatasetLayoutError(
            f"{self.path}: sheet {self.name!r} has no column {label} (found: {', '.join(found)}). "
            "Use the workbook as published with GRAPE, column names unchanged."
        )

    def vf_columns(self) -> list[int] | None:
        """Positions of visual-field points 0..60 under the ``VF`` group, or ``None`` if incomplete."""
        points = {sub: j for j, (top, sub) in enumerate(self.header) if top == "vf" and sub is not None}
        columns = [points.get(str(i)) for i in range(VF_POINTS)]
        return None if any(c is None for c in columns) else [c for c in columns if c is not None]


def read_sheets(path: Path, names: Sequence[str]) -> tuple[Sheet, ...]:
    """The sheets called ``names`` (matched ignoring case, spaces and hyphens), in that order.

    Raises:
        DatasetLayoutError: the file is not a readable workbook or lacks a sheet.
    """
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise DatasetLayoutError(
            f"{path}: cannot be read as an Excel workbook ({exc}); download it again from the GRAPE release."
        ) from exc
    try:
        by_name = {re.sub(r"[^a-z0-9]", "", ws.title.casefold()): ws for ws in workbook.worksheets}
        sheets = []
        for name in names:
            ws = by_name.get(re.sub(r"[^a-z0-9]", "", name.casefold()))
            if ws is None:
                raise DatasetLayoutError(
                    f"{path}: no sheet {name!r} (found: {', '.join(repr(w.title) for w in workbook.worksheets)}); "
                    f"expected the sheets {', '.join(repr(n) for n in names)} as published with GRAPE."
                )
            sheets.append(_parse(path, ws.title, list(ws.iter_rows(values_only=True))))
        return tuple(sheets)
    finally:
        workbook.close()


def _parse(path: Path, name: str, raw: list[tuple[Any, ...]]) -> Sheet:
    numbered = [(i + 1, r) for i, r in enumerate(raw) if any(c is not None and c != "" for c in r)]
    if not numbered:
        raise DatasetLayoutError(f"{path}: sheet {name!r} is empty; expected a header and one row per eye or visit.")
    width = max(len(r) for _, r in numbered)
    cells = [(line, tuple(r) + (None,) * (width - len(r))) for line, r in numbered]
    top = cells[0][1]
    # A second header row has sub-names under merged (empty) group cells; a data row does not.
    second = cells[1][1] if len(cells) > 1 else ()
    two_rows = any(t is None and s is not None for t, s in zip(top, second, strict=False))
    sub = cells[1][1] if two_rows else (None,) * width
    header: list[tuple[str | None, str | None]] = []
    group: str | None = None
    for t, s in zip(top, sub, strict=True):
        if t is not None and str(t).strip():
            group = _norm(t)
            header.append((group, None if s is None else _norm(s)))
        elif s is not None:
            header.append((group, _norm(s)))  # under a merged group cell
        else:
            header.append((None, None))
    return Sheet(path=path, name=name, header=header, rows=cells[2 if two_rows else 1 :])
