"""The printable one-page PDF of a visit, built on :mod:`medscreen.pipelines.report`.

One finished screening: the pipeline's own one-page report. Several (both
eyes, or several ultrasound images): one row per image on one A4 page, with
the overlay, advice, reasons and findings; the disclaimer at the foot.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np

from medscreen.pipelines.report import describe_findings, report_figure
from medscreen.pipelines.schema import ADVICE_COLOUR, DISCLAIMER, ScreeningOutput, ScreeningResult

__all__ = ["MAX_ROWS", "visit_report_pdf"]

#: images that fit on the page; later ones are left out (the page says so)
MAX_ROWS = 4


def visit_report_pdf(title: str, items: Sequence[tuple[str, ScreeningResult, np.ndarray]]) -> bytes:
    """A one-page A4 PDF for a visit.

    Args:
        title: the heading line (visit id and date; the caller decides what identifies the patient).
        items: per finished screening, a label (``"OD"``, ``"OS"``, ``"image 1"``), its result and overlay (RGB).

    Raises:
        ValueError: no items.
    """
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    if not items:
        raise ValueError("a visit report needs at least one finished screening")
    if len(items) == 1:
        label, result, image = items[0]
        fig = report_figure(ScreeningOutput(result, image, None))
        fig.text(0.94, 0.965, f"{title} · {label}", fontsize=9, ha="right", va="top")
    else:
        fig = Figure(figsize=(8.27, 11.69))
        fig.text(0.06, 0.965, "medscreen visit report", fontsize=16, weight="bold", va="top")
        fig.text(0.06, 0.935, title, fontsize=9, va="top", color="#444")
        shown = items[:MAX_ROWS]
        row_h = 0.84 / len(shown)
        for i, (label, result, image) in enumerate(shown):
            top = 0.91 - i * row_h
            ax = fig.add_axes((0.06, top - row_h + 0.02, 0.34, row_h - 0.03))
            ax.imshow(image)
            ax.set_axis_off()
            ax.set_title(label, fontsize=10, loc="left")
            y = top - 0.01
            fig.text(0.43, y, f"Advice: {result.advice.upper()}", fontsize=12, weight="bold", va="top",
                     color=ADVICE_COLOUR[result.advice])
            y -= 0.025
            for line in [*result.reasons, *describe_findings(result)]:
                for j, part in enumerate(textwrap.wrap(line, 60)[:2]):
                    fig.text(0.45, y, ("• " if j == 0 else "  ") + part, fontsize=7.5, va="top")
                    y -= 0.013
        if len(items) > MAX_ROWS:
            fig.text(0.06, 0.07, f"{len(items) - MAX_ROWS} more images are not shown; see the visit page.",
                     fontsize=8)
        fig.text(0.06, 0.045, "\n".join(textwrap.wrap(DISCLAIMER, 110)), fontsize=9, style="italic", va="bottom")
    FigureCanvasPdf(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    return buf.getvalue()
