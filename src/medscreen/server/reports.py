"""The visit PDF a clinic can hand over or file, and the reviewer's image crops.

One A4 page (more when needed): who (patient name and clinic id, birth year,
sex, clinic), when (visit date), then per eye the latest gradable photo (or, for
an ultrasound study, each gradable image) with its overlay, the advice that
stands, the review status, every reason in full (wrapped; the text runs onto a
further page rather than being cut), the models' measured limits; then the
model files and their hashes, and the disclaimer at the foot of every page.
Drawn with matplotlib's PDF backend on ``Figure`` objects (never ``pyplot``).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from PIL import Image as PILImage

from medscreen.i18n import N_, SEPARATOR, Message, Translator, english
from medscreen.pipelines.schema import (
    ADVICE_COLOUR,
    ADVICE_LABEL,
    DISCLAIMER,
    ScreeningResult,
)

__all__ = ["ReportImage", "disc_crop_jpeg", "full_resolution_png", "visit_report_pdf"]

_A4 = (8.27, 11.69)
_LINE = 0.0145  # one 8.5-pt line, as a share of the page height
_TOP, _BOTTOM = 0.955, 0.085
_WRAP = 64  # characters per line in the text column beside an image (8.5 pt, from 0.41 to 0.94 of A4)
_WRAP_FULL = 110


@dataclass
class ReportImage:
    """One image of the visit as the report shows it.

    Attributes:
        label: "Right eye (OD)", "Left eye (OS)" or "Image 3".
        result: the screening result (as the reader may see it: no experimental finding for a health worker).
        overlay: the overlay image, RGB.
        advice: the advice that stands (the current review's, else the model's).
        review: the review status in words ("not reviewed yet", or who confirmed/corrected what, when).
        limits: one line per model: its measured sensitivity and specificity.
        note: why this image and not another (e.g. "the latest gradable photo of 3").
        reasons: the result's reasons in the report's language (default: the result's English ones).
        quality_reasons: the input check's reasons, likewise.
    """

    label: str
    result: ScreeningResult
    overlay: np.ndarray
    advice: str
    review: str
    limits: list[str] = field(default_factory=list)
    note: str | None = None
    reasons: list[str] | None = None
    quality_reasons: list[str] | None = None


class _Pages:
    """A flowing A4 document: text goes down the page and a new page starts when it is full."""

    def __init__(self, footer: str, t: Translator) -> None:
        from matplotlib.figure import Figure

        self._figure = Figure
        self.footer = footer
        self.t = t
        self.pages: list = []
        self.new_page()

    def new_page(self) -> None:
        fig = self._figure(figsize=_A4)
        self.pages.append(fig)
        self.y = _TOP

    @property
    def fig(self):  # noqa: ANN201 - a matplotlib Figure
        return self.pages[-1]

    def room(self, height: float) -> None:
        """Start a new page unless ``height`` still fits above the footer."""
        if self.y - height < _BOTTOM:
            self.new_page()

    def text(self, x: float, line: str, *, size: float = 8.5, gap: float = _LINE, **kwargs: object) -> None:
        self.room(gap)
        self.fig.text(x, self.y, line, fontsize=size, va="top", **kwargs)
        self.y -= gap

    def paragraph(self, x: float, text: str, width: int, *, bullet: str = "• ", **kwargs: object) -> None:
        for i, part in enumerate(textwrap.wrap(text, width) or [""]):
            self.text(x, (bullet if i == 0 else " " * len(bullet)) + part, **kwargs)

    def finish(self) -> bytes:
        from matplotlib.backends.backend_pdf import FigureCanvasPdf, PdfPages

        buf = io.BytesIO()
        with PdfPages(buf) as pdf:
            for n, fig in enumerate(self.pages, start=1):
                fig.text(0.06, 0.03, "\n".join(textwrap.wrap(self.footer, _WRAP_FULL)), fontsize=8, style="italic",
                         va="bottom")
                fig.text(0.94, 0.03, self.t.render(Message(N_("page %(n)s of %(pages)s"),
                                                           {"n": n, "pages": len(self.pages)})),
                         fontsize=8, ha="right", va="bottom")
                FigureCanvasPdf(fig)
                pdf.savefig(fig)
        return buf.getvalue()


def _image_block(doc: _Pages, item: ReportImage) -> None:
    result, t = item.result, doc.t
    advice = t.render(Message(N_("Advice: %(advice)s"), {"advice": t.gettext(ADVICE_LABEL[item.advice]).upper()}))
    lines: list[tuple[str, dict]] = [(advice, {"size": 12, "weight": "bold", "color": ADVICE_COLOUR[item.advice],
                                               "gap": 0.022})]
    if item.advice != result.advice:
        lines.append((t.render(Message(N_("(the model advised %(advice)s; a specialist's review changed it)"),
                                       {"advice": Message(ADVICE_LABEL[result.advice])})), {}))
    lines.append((t.render(Message(N_("Review: %(status)s"), {"status": item.review})), {}))
    doc.room(0.24)
    top, page = doc.y, len(doc.pages)
    doc.text(0.06, item.label + (f" — {item.note}" if item.note else ""), size=11, weight="bold", gap=0.02)
    ax = doc.fig.add_axes((0.06, doc.y - 0.20, 0.32, 0.20))
    ax.imshow(item.overlay)
    ax.set_axis_off()
    doc.y = top - 0.02
    for text, style in lines:
        for i, part in enumerate(textwrap.wrap(text, _WRAP)):
            doc.text(0.41, part if i == 0 else "  " + part, **style)
    doc.text(0.41, t.gettext(N_("Why:")), weight="bold")
    for reason in result.reasons if item.reasons is None else item.reasons:
        doc.paragraph(0.42, reason, _WRAP)
    quality = result.quality_reasons if item.quality_reasons is None else item.quality_reasons
    if quality:
        doc.paragraph(0.42, t.render(Message(N_("Image check: %(reasons)s"),
                                             {"reasons": t.gettext(SEPARATOR).join(quality)})), _WRAP)
    from medscreen.pipelines.report import describe_findings

    doc.text(0.41, t.gettext(N_("Findings:")), weight="bold")
    for line in describe_findings(result, t):
        doc.paragraph(0.42, line, _WRAP)
    if item.limits:
        doc.text(0.41, t.gettext(N_("How often the model is right (data it did not train on):")), weight="bold")
        for line in item.limits:
            doc.paragraph(0.42, line, _WRAP)
    doc.y = (min(doc.y, top - 0.24) if len(doc.pages) == page else doc.y) - 0.01


def visit_report_pdf(patient_lines: Sequence[str], items: Sequence[ReportImage], *, missing: Sequence[str] = (),
                     t: Translator | None = None) -> bytes:
    """The visit's PDF (A4, as many pages as the text needs).

    Args:
        patient_lines: who and when: patient name and clinic id, birth year, sex, clinic, visit date.
        items: the images to show, in order (one per eye for fundus photos).
        missing: lines for what is not shown (an eye without a finished or gradable photo).
        t: the language of the report's own words (default English); the lines given are shown as they are.

    Raises:
        ValueError: no items.
    """
    if not items:
        raise ValueError("a visit report needs at least one finished screening")
    t = t or english()
    doc = _Pages(t.gettext(DISCLAIMER), t)
    doc.text(0.06, t.gettext(N_("medscreen visit report")), size=16, weight="bold", gap=0.03)
    for line in patient_lines:
        doc.text(0.06, line, size=10, gap=0.018)
    doc.text(0.06, t.render(Message(N_("Printed %(time)s UTC"), {"time": f"{datetime.now(UTC):%Y-%m-%d %H:%M}"})),
             size=8, color="#444", gap=0.025)
    for line in missing:
        doc.paragraph(0.06, line, _WRAP_FULL, bullet="")
    for item in items:
        _image_block(doc, item)
    doc.text(0.06, t.gettext(N_("Models")), size=10, weight="bold", gap=0.02)
    models = {(task, v.file, v.sha256) for item in items for task, v in item.result.models.items()}
    for task, file, sha in sorted(models):
        doc.text(0.06, f"{task}: {file}  sha256 {sha}", size=6.5, family="monospace", gap=0.012)
    versions = sorted({(i.result.medscreen_version, i.result.schema_version) for i in items})
    doc.text(0.06, t.gettext(SEPARATOR).join(t.render(Message(N_("medscreen %(version)s, result schema %(schema)s"),
                                                         {"version": m, "schema": s})) for m, s in versions),
             size=7, gap=0.012)
    return doc.finish()


def disc_crop_jpeg(data: bytes, box: Sequence[int], *, max_side: int = 512) -> bytes:
    """The ``[x0, y0, x1, y1]`` square of an image (zero-padded past its edges) as a JPEG of at most ``max_side``."""
    from medscreen.io.images import decode_image

    rgb = decode_image(data)
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = rgb.shape[:2]
    crop = np.zeros((max(y1 - y0, 1), max(x1 - x0, 1), 3), np.uint8)
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    im = PILImage.fromarray(crop)
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def full_resolution_png(data: bytes) -> bytes:
    """An image a browser cannot show (DICOM, TIFF) as a PNG of the same pixels, decoded as the pipeline decodes it."""
    from medscreen.io.images import decode_image

    buf = io.BytesIO()
    PILImage.fromarray(decode_image(data)).save(buf, format="PNG")
    return buf.getvalue()
