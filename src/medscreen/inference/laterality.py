"""Which eye a full fundus photograph shows, from the side its optic disc is on.

In a 45° photograph the optic disc lies nasal to the fovea: on the viewer's
right for a right eye (OD) and on the left for a left eye (OS). A disc close to
the middle of the field (a disc-centred photo) says nothing, and neither does a
disc-centred crop. Checked on GRAPE's photos, whose file names carry OD/OS
(``benchmarks/disc_location.py`` reports the accuracy).

Hand-written: a two-line geometric rule no library provides.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Eye", "EYE_MARGIN", "eye_from_disc"]

Eye = Literal["left", "right"]

#: the disc's centre must lie this far (share of the field's width) from the field's middle to name the eye;
#: on GRAPE's reference centres a margin of 0.05 left 9 of 450 photos undecided and got every other right
EYE_MARGIN = 0.05


def eye_from_disc(centre_x: float, field_x0: float, field_x1: float, *, margin: float = EYE_MARGIN) -> Eye | None:
    """``right``/``left`` when the disc sits clearly right/left of the field's middle, else None.

    Args:
        centre_x: the disc centre's column, in image pixels.
        field_x0, field_x1: the columns where the field of view starts and ends (end-exclusive).
        margin: the undecided band around the middle, as a share of the field's width.
    """
    width = field_x1 - field_x0
    if width <= 0:
        return None
    offset = (centre_x - (field_x0 + field_x1) / 2) / width
    if abs(offset) <= margin:
        return None
    return "right" if offset > 0 else "left"
