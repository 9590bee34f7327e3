"""medscreen: screening of retinal fundus photos and breast ultrasound images.

``medscreen.screen(image, modality=None)`` screens one image with the bundled
models and returns a :class:`~medscreen.pipelines.schema.ScreeningResult`.
Nothing is loaded at import time (``screen`` and ``ScreeningResult`` are
imported on first use); see :mod:`medscreen.cli` for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["__version__", "screen", "ScreeningResult"]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from medscreen.pipelines.schema import ScreeningResult
    from medscreen.pipelines.screening import screen


def __getattr__(name: str) -> Any:
    if name == "screen":
        from medscreen.pipelines.screening import screen

        return screen
    if name == "ScreeningResult":
        from medscreen.pipelines.schema import ScreeningResult

        return ScreeningResult
    raise AttributeError(f"module 'medscreen' has no attribute {name!r}")
