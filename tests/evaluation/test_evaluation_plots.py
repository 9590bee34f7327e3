"""Report figures are written as PNG files for binary and three-class results."""

from __future__ import annotations

import numpy as np

from medscreen.evaluation.plots import plot_calibration, plot_confusion, plot_roc

PNG = b"\x89PNG\r\n\x1a\n"


def test_binary_and_multiclass_figures_are_pngs(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 40), 0, 1)
    y3 = np.arange(30) % 3
    p3 = rng.dirichlet([1, 1, 1], 30)
    names = ["normal", "benign", "malignant"]
    paths = [
        plot_roc(tmp_path / "roc.png", y, p, threshold=0.5),
        plot_roc(tmp_path / "roc3.png", np.array(names)[y3], p3, labels=names),
        plot_roc(tmp_path / "one_class.png", [1, 1], [0.2, 0.9]),
        plot_confusion(tmp_path / "sub" / "cm.png", [[5, 2], [1, 8]], ["normal", "glaucoma"]),
        plot_calibration(tmp_path / "cal.png", y, p),
        plot_calibration(tmp_path / "cal3.png", y3, p3, n_bins=5),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG
