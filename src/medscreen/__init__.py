"""medscreen: screening of retinal fundus photos and breast ultrasound images.

Nothing is loaded at import time; see :mod:`medscreen.cli` for the command line.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
