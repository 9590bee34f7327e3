"""The follow-up chart of one eye, drawn server-side as inline SVG (no JavaScript chart library).

Glaucoma and progression probabilities use the left axis (0–1); the optic
disc diameter uses the right axis (pixels, 0 to the largest value). Points
are spaced by date; each has a ``<title>`` tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from medscreen.i18n import N_, Message, Translator, english
from medscreen.store.timeline import TimelinePoint

__all__ = ["SERIES", "timeline_svg"]

#: (key, legend, colour, dash) of each series
SERIES = (
    ("glaucoma_probability", N_("Glaucoma probability"), "#b00020", ""),
    ("progression_probability", N_("Progression probability"), "#b26a00", "6 3"),
    ("disc_diameter_px", N_("Disc diameter (px, right axis)"), "#1565c0", "2 3"),
)
_W, _H, _L, _R, _T, _B = 340, 200, 34, 40, 12, 50


def timeline_svg(points: Sequence[TimelinePoint], eye: str, t: Translator | None = None) -> Markup:
    """An accessible SVG line chart of one eye's screenings; a short note when there is nothing to draw.

    ``t``: the language of its words (default English).
    """
    t = t or english()
    done = [p for p in points if p["status"] == "done"]
    if not done:
        note = t.render(Message(N_("No finished screenings of %(eye)s yet."), {"eye": eye}))
        return Markup(f'<p class="muted">{escape(note)}</p>')
    times = [p["taken_at"].timestamp() for p in done]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0
    plot_w, plot_h = _W - _L - _R, _H - _T - _B
    discs = [p["disc_diameter_px"] for p in done if p["disc_diameter_px"] is not None]
    disc_max = max(discs) * 1.1 if discs else 1.0

    def x(i: int) -> float:
        return _L + (plot_w / 2 if t1 == t0 else plot_w * (times[i] - t0) / span)

    def y(value: float, scale: float) -> float:
        return _T + plot_h * (1 - value / scale)

    label = t.render(Message(N_("Follow-up of eye %(eye)s: %(n)s screenings"), {"eye": eye, "n": len(done)}))
    title = t.render(Message(N_("Follow-up of eye %(eye)s"), {"eye": eye}))
    parts = [f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}">',
             f"<title>{escape(title)}</title>"]
    for v in (0.0, 0.5, 1.0):  # grid and left labels
        yy = y(v, 1.0)
        parts.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{_L - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end">{t.number(v, ".1f")}</text>')
    parts.append(f'<text x="{_W - _R + 4}" y="{_T + 8}" font-size="10">{disc_max:.0f}</text>')
    parts.append(f'<text x="{_W - _R + 4}" y="{_T + plot_h}" font-size="10">0</text>')
    for i in sorted({0, len(done) - 1}):
        parts.append(f'<text x="{x(i):.1f}" y="{_T + plot_h + 14}" font-size="10" text-anchor="middle">'
                     f'{done[i]["taken_at"]:%Y-%m-%d}</text>')
    for n, (key, msgid, colour, dash) in enumerate(SERIES):
        label = t.gettext(msgid)
        scale = disc_max if key == "disc_diameter_px" else 1.0
        coords = [(x(i), y(p[key], scale), p) for i, p in enumerate(done) if p[key] is not None]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _ in coords)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        for cx, cy, p in coords:
            value = f"{t.number(p[key], '.0f')} px" if key == "disc_diameter_px" else t.number(p[key])
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}">'
                         f'<title>{p["taken_at"]:%Y-%m-%d}: {escape(label)} {value}</title></circle>')
        ly = _H - 30 + 11 * n
        parts.append(f'<line x1="{_L}" x2="{_L + 18}" y1="{ly - 3}" y2="{ly - 3}" stroke="{colour}" stroke-width="2"'
                     + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        parts.append(f'<text x="{_L + 24}" y="{ly}" font-size="10">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
