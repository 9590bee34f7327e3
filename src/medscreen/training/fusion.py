"""Fuse a glaucoma network's logit with the disc's pallor, fitted on the validation split.

The network sees its crop after ``local-contrast`` preprocessing, which removes
how much paler the disc is than the retina around it; the pallor score
(:func:`~medscreen.transforms.classification.disc_pallor`) keeps it and, with no
training, ranks glaucoma on every camera here (AUC 0.67–0.79). A network trained
on one camera ranks the other camera's eyes poorly; adding the pallor at a
fixed share lifts that leave-one-source-out AUC where the network is weakest
(the glaucoma card has the figures; ``benchmarks/pallor_fusion.py`` measures it under CV).

The share is fixed, not fitted: fitted on validation crops from the training
cameras, where the network is far better than the pallor, it would all but
drop the pallor, which is what helps on a camera the network never saw.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from medscreen.errors import ConfigError

__all__ = ["fit_pallor_fusion"]


def fit_pallor_fusion(logits: np.ndarray, pallor: np.ndarray, truth: np.ndarray,
                      weight: float) -> tuple[float, float, float]:
    """``(logit_weight, pallor_weight, bias)`` of the fused logit, from validation cases.

    Both inputs are standardised over these cases and summed as ``z(logit) + weight × z(pallor)``;
    that score is then calibrated to a probability by a one-feature logistic regression (Platt
    scaling, scikit-learn, no penalty), so the card's threshold and ECE keep their meaning.

    Raises:
        ConfigError: mismatched lengths, one class only, a negative weight, or constant inputs.
    """
    logits, pallor, truth = (np.asarray(a, dtype=np.float64).ravel() for a in (logits, pallor, truth))
    if not len(logits) == len(pallor) == len(truth):
        raise ConfigError(f"fusion needs one logit, pallor and label per case; got {len(logits)}, {len(pallor)} "
                          f"and {len(truth)}")
    if weight < 0:
        raise ConfigError(f"the pallor's weight {weight} must be 0 or more")
    if len(np.unique(truth)) != 2:
        raise ConfigError("fitting a fusion needs validation cases of both classes")
    sl, sp = logits.std(), pallor.std()
    if sl < 1e-9 or sp < 1e-9:
        raise ConfigError("the network's logits or the pallor are constant over the validation cases; "
                          "check that the crops are real fundus photos")
    score = (logits - logits.mean()) / sl + weight * (pallor - pallor.mean()) / sp
    platt = LogisticRegression(C=np.inf).fit(score[:, None], truth.astype(int))
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    if a <= 0:
        raise ConfigError("the fused score ranks the validation cases backwards; the network or the pallor "
                          "does not fit these crops")
    return a / sl, a * weight / sp, b - a * logits.mean() / sl - a * weight * pallor.mean() / sp
