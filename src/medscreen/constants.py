"""Numbers that training, inference and the pipelines must agree on (a leaf: imports nothing).

``GLAUCOMA_CROP_K``: the glaucoma and progression models see a square crop of
side ``k × predicted disc diameter`` centred on the disc. ACRIMA's published
crops (the main training data) frame the optic disc at about 2.2 disc
diameters per side, measured by eye on a sample of 24 ACRIMA and GRAPE ROI
crops (see :mod:`medscreen.transforms.classification`).
"""

from __future__ import annotations

__all__ = ["GLAUCOMA_CROP_K"]

#: crop side in disc diameters that matches ACRIMA's framing
GLAUCOMA_CROP_K = 2.2
