"""What ``medscreen screen --out`` writes per image and per batch: overlay PNG, one-page PDF, summary CSV rows.

The PDF is drawn with matplotlib's PDF backend on a ``Figure`` (never
``pyplot``: no global state, safe in a server), so it needs no dependency
beyond the plotting the project already uses.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from medscreen.evaluation.overlays import draw_outlines
from medscreen.i18n import N_, Message, Number, Translator, english
from medscreen.pipelines.schema import (
    ADVICE_COLOUR,
    ADVICE_LABEL,
    ScreeningOutput,
    ScreeningResult,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SUMMARY_COLUMNS",
    "TERMS",
    "describe_findings",
    "overlay_image",
    "reasons_of",
    "report_figure",
    "save_overlay_png",
    "save_report_pdf",
    "summary_row",
]

_DISC, _CROP, _LESION = (255, 255, 0), (0, 200, 255), (255, 0, 255)

#: columns of ``summary.csv``, one row per file (``status`` is ``screened`` or ``error``)
SUMMARY_COLUMNS = (
    "file", "status", "error", "modality", "gradable", "advice", "reasons",
    "disc_found", "disc_diameter_px", "disc_area_px", "glaucoma_probability", "glaucoma_positive",
    "progression_probability", "progressing", "lesion_found", "lesion_area_px", "lesion_area_fraction",
    "breast_label", "p_normal", "p_benign", "p_malignant", "backend", "total_ms",
)


def _box_outline(shape: tuple[int, int], box: list[int], width: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = np.zeros(shape, bool)
    h, w = shape
    ys, xs = slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w))
    for y in (y0, y1 - width):
        if 0 <= y < h:
            out[y : y + width, xs] = True
    for x in (x0, x1 - width):
        if 0 <= x < w:
            out[ys, x : x + width] = True
    return out


def overlay_image(output: ScreeningOutput) -> np.ndarray:
    """The image with the disc outline (yellow) and glaucoma crop (blue), or the lesion (magenta) drawn on it."""
    image, result, mask = output.image, output.result, output.mask
    if mask is None or not mask.any():
        return image.copy()
    if result.modality == "ultrasound":
        rgb = image.copy()
        rgb[mask] = (0.75 * rgb[mask] + 0.25 * np.array(_LESION)).astype(np.uint8)  # translucent fill
        return draw_outlines(rgb, [(mask, _LESION)])
    rgb = draw_outlines(image, [(mask, _DISC)])
    if result.disc is not None and result.disc.crop_box is not None:
        width = max(1, min(rgb.shape[:2]) // 300)
        rgb[_box_outline(rgb.shape[:2], result.disc.crop_box, width)] = _CROP
    return rgb


def save_overlay_png(path: Path, output: ScreeningOutput, *, max_side: int = 1024) -> Path:
    """Write :func:`overlay_image` as a PNG no larger than ``max_side``."""
    im = Image.fromarray(overlay_image(output))
    im.thumbnail((max_side, max_side))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


#: machine words of the results (modalities, tasks, class labels) as a person reads them
TERMS: dict[str, str] = {
    "fundus": N_("fundus"), "ultrasound": N_("ultrasound"), "unknown": N_("unknown"),
    "disc": N_("disc"), "glaucoma": N_("glaucoma"), "progression": N_("progression"), "lesion": N_("lesion"),
    "breast-class": N_("breast class"), "normal": N_("normal"), "benign": N_("benign"),
    "malignant": N_("malignant"), "progressing": N_("progressing"), "stable": N_("stable"),
}


def _term(t: Translator, word: str) -> str:
    return t.gettext(TERMS[word]) if word in TERMS else word


def _legend(output: ScreeningOutput, t: Translator) -> str:
    if output.mask is None or not output.mask.any():
        return t.gettext(N_("nothing outlined"))
    if output.result.modality == "ultrasound":
        return t.gettext(N_("magenta: the lesion outlined by the lesion model"))
    return t.gettext(N_("yellow: the optic disc outlined by the disc model; blue: the square the glaucoma model "
                        "looked at"))


def describe_findings(result: ScreeningResult, t: Translator | None = None) -> list[str]:
    """The findings in plain lines: the image (modality, gradable), then one line per model that ran.

    Args:
        result: the screening result.
        t: the reader's language (default English, as the command line prints it).
    """
    t = t or english()
    looks = "" if result.modality == result.detected_modality else t.render(
        Message(N_(" (looks %(modality)s)"), {"modality": _term(t, result.detected_modality)}))
    lines = [t.render(Message(N_("Image: %(modality)s%(looks)s; gradable: %(gradable)s"), {
        "modality": _term(t, result.modality), "looks": looks,
        "gradable": t.gettext(N_("yes") if result.gradable else N_("no"))}))]
    for message in _finding_messages(result):
        lines.append(t.render(message))
    if result.breast_class is not None:
        b = result.breast_class
        probs = ", ".join(f"{_term(t, k)} {t.number(v)}" for k, v in b.probabilities.items())
        lines.append(t.render(Message(N_("Breast class: %(label)s (%(probabilities)s)"),
                                      {"label": _term(t, b.label), "probabilities": probs})))
    return lines


def _finding_messages(result: ScreeningResult) -> list[Message]:
    """The disc, glaucoma, progression and lesion lines of :func:`describe_findings`."""
    out = []
    if (d := result.disc) is not None:
        out.append(Message(N_("Optic disc: centre (%(x)s, %(y)s) px, diameter %(diameter)s px, area %(area)s px²"),
                           {"x": Number(d.centre_x or 0.0, ".0f"), "y": Number(d.centre_y or 0.0, ".0f"),
                            "diameter": Number(d.diameter_px or 0.0, ".0f"), "area": Number(d.area_px or 0.0, ".0f")})
                   if d.found else Message(N_("Optic disc: not found")))
    if (g := result.glaucoma) is not None:
        out.append(Message(N_("Glaucoma: probability %(probability)s (threshold %(threshold)s): positive")
                           if g.positive else
                           N_("Glaucoma: probability %(probability)s (threshold %(threshold)s): negative"),
                           {"probability": Number(g.probability), "threshold": Number(g.threshold)}))
    if (p := result.progression) is not None:
        out.append(Message(N_("Progression: probability %(probability)s (threshold %(threshold)s): progressing")
                           if p.progressing else
                           N_("Progression: probability %(probability)s (threshold %(threshold)s): stable"),
                           {"probability": Number(p.probability), "threshold": Number(p.threshold)}))
    if (le := result.lesion) is not None:
        out.append(Message(N_("Lesion: %(area)s px² (%(share)s %% of the image), box %(box)s"),
                           {"area": Number(le.area_px, ".0f"), "share": Number(100 * le.area_fraction, ".1f"),
                            "box": str(le.bbox)})
                   if le.found else Message(N_("Lesion: none outlined")))
    return out


def reasons_of(output: ScreeningOutput, t: Translator | None = None) -> list[str]:
    """The result's reasons in ``t``'s language (the English ones of the result when no messages came with it)."""
    t = t or english()
    return [t.render(m) for m in output.reason_messages] if output.reason_messages else list(output.result.reasons)


def report_figure(output: ScreeningOutput, t: Translator | None = None) -> Figure:
    """The one-page A4 report as a matplotlib ``Figure`` (see :func:`save_report_pdf`), in ``t``'s language."""
    from matplotlib.figure import Figure

    t = t or english()
    result = output.result
    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.965, t.gettext(N_("medscreen screening report")), fontsize=16, weight="bold", va="top")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(0.06, 0.935, t.render(Message(N_("%(source)s · %(time)s · medscreen %(version)s · schema %(schema)s · "
                                              "backend %(backend)s"), {
        "source": result.source or t.gettext(N_("image")), "time": stamp, "version": result.medscreen_version,
        "schema": result.schema_version, "backend": result.backend})), fontsize=8, va="top", color="#444")
    ax = fig.add_axes((0.06, 0.50, 0.88, 0.42))
    ax.imshow(overlay_image(output), interpolation="antialiased")
    ax.set_axis_off()
    fig.text(0.5, 0.495, _legend(output, t), fontsize=7.5, color="#444", ha="center", va="top")
    y = 0.47
    fig.text(0.06, y, t.render(Message(N_("Advice: %(advice)s"), {
        "advice": t.gettext(ADVICE_LABEL[result.advice]).upper()})), fontsize=15, weight="bold", va="top",
        color=ADVICE_COLOUR[result.advice])
    y -= 0.035
    for reason in reasons_of(output, t):
        for i, line in enumerate(textwrap.wrap(reason, 100)):
            fig.text(0.08, y, ("• " if i == 0 else "  ") + line, fontsize=9, va="top")
            y -= 0.017
    y -= 0.012
    fig.text(0.06, y, t.gettext(N_("Findings")), fontsize=11, weight="bold", va="top")
    y -= 0.024
    for line in describe_findings(result, t):
        fig.text(0.08, y, line, fontsize=9, va="top")
        y -= 0.018
    y -= 0.012
    fig.text(0.06, y, t.gettext(N_("Models")), fontsize=11, weight="bold", va="top")
    y -= 0.022
    for task, version in result.models.items() or [("—", None)]:
        text = (f"{task}: {version.file}  sha256 {version.sha256}" if version
                else t.gettext(N_("no model ran (input check only)")))
        fig.text(0.08, y, text, fontsize=7, family="monospace", va="top")
        y -= 0.015
    fig.text(0.06, 0.045, "\n".join(textwrap.wrap(t.gettext(result.disclaimer), 110)), fontsize=9, style="italic",
             va="bottom")
    return fig


def save_report_pdf(path: Path, output: ScreeningOutput, t: Translator | None = None) -> Path:
    """Write a one-page A4 PDF: the overlay, advice with reasons, findings, model files and hashes, the disclaimer.

    ``t``: the language of its text (default English); the file names and hashes stay as they are.
    """
    from matplotlib.backends.backend_pdf import FigureCanvasPdf

    fig = report_figure(output, t)
    FigureCanvasPdf(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="pdf")
    return path


def summary_row(file: str, result: ScreeningResult | None, error: str = "") -> dict[str, Any]:
    """One ``summary.csv`` row (:data:`SUMMARY_COLUMNS`); ``result`` None for a file that failed."""
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, "")
    row.update(file=file, status="error" if result is None else "screened", error=error)
    if result is None:
        return row
    row.update(modality=result.modality, gradable=result.gradable, advice=result.advice,
               reasons=" | ".join(result.reasons), backend=result.backend,
               total_ms=round(result.timings_ms.get("total", 0.0), 1))
    if result.disc is not None:
        row.update(disc_found=result.disc.found, disc_diameter_px=_round(result.disc.diameter_px),
                   disc_area_px=_round(result.disc.area_px))
    if result.glaucoma is not None:
        row.update(glaucoma_probability=_round(result.glaucoma.probability, 4),
                   glaucoma_positive=result.glaucoma.positive)
    if result.progression is not None:
        row.update(progression_probability=_round(result.progression.probability, 4),
                   progressing=result.progression.progressing)
    if result.lesion is not None:
        row.update(lesion_found=result.lesion.found, lesion_area_px=_round(result.lesion.area_px),
                   lesion_area_fraction=_round(result.lesion.area_fraction, 4))
    if result.breast_class is not None:
        row["breast_label"] = result.breast_class.label
        for label, p in result.breast_class.probabilities.items():
            if f"p_{label}" in row:
                row[f"p_{label}"] = _round(p, 4)
    return row


def _round(value: float | None, digits: int = 1) -> float | str:
    return "" if value is None else round(float(value), digits)
