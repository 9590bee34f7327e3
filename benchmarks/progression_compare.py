"""GRAPE progression from baseline data: gradient boosting, logistic regression and single-feature baselines.

Question: does anything measured at the first visit predict which glaucomatous
eye of GRAPE will progress (label ``progressing`` under the ``any`` criterion:
PLR2, PLR3 or MD)? Earlier subject-grouped 5-fold CV gave AUC 0.550 for an
image-only CNN, 0.477 for clinical-only logistic regression, 0.471 fused.

Method
------
* **Data.** One row per eye from sheet ``Baseline``
  (:func:`medscreen.datasets.read_grape_eyes`); eyes without a progression
  label are left out. Nothing observed after the baseline visit is a feature:
  ``total_visits``/``n_visits``/follow-up intervals leak the outcome (eyes
  followed longer have more chances to progress) and are refused by
  :func:`load_table`.
* **Feature sets.** ``clinical13``: the 13 features of
  :func:`medscreen.datasets.clinical.clinical_vector` (age, sex, IOP, CCT,
  angle closure, RNFL mean and 4 sectors, visual-field mean / SD / share of
  points < 10 dB), NaN where missing. ``clinical13+vf``: those plus the raw
  baseline visual field — the 61 points less the two that are -1 in every eye
  (the blind spot, points 21 and 32 in this copy). Elsewhere ``-1`` appears in
  clusters inside damaged areas of ~1 in 5 eyes, so it is read there as an
  absolute defect and set to 0 dB (``clinical_vector`` instead leaves such
  points out of its VF summaries; that module is not changed here).
* **Models** (hyper-parameters fixed a priori or chosen by inner CV on the
  training part only, never on an outer test fold):

  - ``hgb``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier`, NaN
    handled natively, fixed a priori for ~210 training eyes: ``max_depth=2``,
    ``learning_rate=0.05``, ``max_iter=100``, ``min_samples_leaf=10``,
    ``l2_regularization=1.0``, ``class_weight="balanced"``, no early stopping.
  - ``logistic``: training-median imputation → standardisation → L2
    logistic regression (``class_weight="balanced"``) with ``C`` from
    {0.001, 0.01, 0.1, 1, 10} by a 3-fold subject-grouped, label-stratified
    inner CV on ROC AUC.
  - ``single:<feature>``: one feature, training-median imputed, its sign
    (higher or lower = progressing) set by its AUC on the training part —
    the cheapest honest baseline.

* **Validation.** Subject-grouped, label-stratified 5-fold CV
  (:class:`~sklearn.model_selection.StratifiedGroupKFold`, groups = subject, so
  both eyes of a subject are always on the same side), repeated with seeds
  ``0..repeats-1``; every model sees the same folds in a repeat (paired). Per
  repeat, the out-of-fold scores of the 5 test folds are pooled into one AUC.
* **Reported.** Mean, SD and range of the pooled AUC over repeats; a 95 %
  percentile-bootstrap CI of that repeat-mean AUC resampling **subjects**
  (both eyes together; 2000 resamples) via
  :func:`medscreen.evaluation.stats.bootstrap_ci` with subjects as its cases;
  the paired subject-bootstrap difference to ``logistic`` on ``clinical13``;
  and sensitivity / specificity at the highest threshold reaching sensitivity
  ≥ 0.85 on each repeat's pooled out-of-fold scores (:func:`choose_threshold`).
  That threshold is chosen **post hoc** on the very predictions it is reported
  on, so it is optimistic: an operating point to read, not a validated one.
* A ``descriptive`` section gives each single feature's AUC on all eyes with
  the orientation fixed (higher value = progressing) and no fitting; picking
  the best of them afterwards would be post hoc selection.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/progression_compare.py \
        --data ../shared/data/grape --out benchmarks/results/progression_compare.json --repeats 5
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medscreen.datasets.clinical import CLINICAL_FEATURES, clinical_vector
from medscreen.datasets.grape import read_grape_eyes
from medscreen.evaluation.classification import (
    _rank_auc,
    choose_threshold,
    compute_binary_metrics,
    confusion_matrix_binary,
)
from medscreen.evaluation.stats import bootstrap_ci, nan_to_none

REPO = Path(__file__).resolve().parents[1]
VF_POINTS = 61
#: baseline-sheet columns that describe the follow-up or the outcome: never features
LEAKY_COLUMNS: tuple[str, ...] = ("total_visits", "n_visits", "photos", "plr2", "plr3", "md", "label")
HGB_PARAMS: dict[str, Any] = {
    "max_depth": 2,
    "learning_rate": 0.05,
    "max_iter": 100,
    "min_samples_leaf": 10,
    "l2_regularization": 1.0,
    "class_weight": "balanced",
    "early_stopping": False,
}
LOGISTIC_C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
INNER_FOLDS = 3
MIN_SENSITIVITY = 0.85
REFERENCE = "logistic/clinical13"

logger = logging.getLogger("progression_compare")


@dataclass(frozen=True)
class Table:
    """Eyes as rows: feature matrices by feature-set name, 0/1 outcome, subject of each eye."""

    features: dict[str, np.ndarray]
    feature_names: dict[str, list[str]]
    y: np.ndarray
    groups: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # descriptive-only columns


@dataclass(frozen=True)
class Fitted:
    """A model fitted on one training part: ``score(X)`` ranks eyes (higher = progressing)."""

    score: Callable[[np.ndarray], np.ndarray]
    info: dict[str, Any]


Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray, int], Fitted]


@dataclass(frozen=True)
class ModelSpec:
    """A model on a feature set (``columns``: a subset of the set's columns, or all)."""

    name: str
    feature_set: str
    fit: Fitter
    columns: tuple[int, ...] | None = None

    def matrix(self, table: Table) -> np.ndarray:
        x = table.features[self.feature_set]
        return x if self.columns is None else x[:, list(self.columns)]


# ---------------------------------------------------------------------------------------------- data


def vf_points(vf: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Raw visual-field points without the blind spot, ``-1`` elsewhere read as 0 dB.

    The blind spot is the points that are ``-1`` in every eye (an unsupervised
    rule: no label is looked at). Returns the matrix and the kept point numbers.
    """
    blind = np.all(vf == -1, axis=0)
    kept = [i for i in range(vf.shape[1]) if not blind[i]]
    points = vf[:, kept].astype(float)
    points[points == -1] = 0.0
    return points, kept


def load_table(root: Path, criterion: str = "any") -> Table:
    """GRAPE's labelled eyes as a :class:`Table` (feature sets ``clinical13`` and ``clinical13+vf``)."""
    frame = read_grape_eyes(root, criterion=criterion)  # type: ignore[arg-type]
    frame = frame[frame["label"].notna()].reset_index(drop=True)
    vf_columns = [f"vf_{i}" for i in range(VF_POINTS)]
    vf = frame[vf_columns].to_numpy(dtype=float)
    baseline = [c for c in frame.columns if c not in vf_columns and c not in LEAKY_COLUMNS]
    clinical = []
    for row, eye_vf in zip(frame[baseline].to_dict("records"), vf, strict=True):
        row["vf"] = None if np.isnan(eye_vf).any() else eye_vf.tolist()
        clinical.append(clinical_vector(row))
    clin = np.asarray(clinical, dtype=float)
    points, kept = vf_points(vf)
    names13 = list(CLINICAL_FEATURES)
    leaked = sorted(set(names13) & set(LEAKY_COLUMNS))
    if leaked:  # pragma: no cover - guards a future change of CLINICAL_FEATURES
        raise RuntimeError(f"follow-up/outcome columns {leaked} would be features")
    canon = frame["device"].astype(str).str.upper().str.contains("CANON").to_numpy(dtype=float)
    return Table(
        features={"clinical13": clin, "clinical13+vf": np.hstack([clin, points])},
        feature_names={"clinical13": names13, "clinical13+vf": names13 + [f"vf_{i}" for i in kept]},
        y=(frame["label"] == "progressing").to_numpy(dtype=np.int64),
        groups=frame["subject"].astype(str).to_numpy(),
        extras={
            "vf_mean_minus1_as_0dB": points.mean(axis=1),
            "vf_minus1_points_outside_blind_spot": (vf[:, kept] == -1).sum(axis=1).astype(float),
            "camera_canon_cr2": canon,
        },
    )


# ------------------------------------------------------------------------------------------- metrics


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (the project's Mann–Whitney with mid-ranks, as scikit-learn's); NaN without both classes."""
    pos = np.asarray(y) == 1
    return _rank_auc(pos, np.asarray(score, dtype=float))


def subject_members(groups: np.ndarray) -> list[np.ndarray]:
    """Eye indices of each subject (in order of first appearance)."""
    order: dict[Any, list[int]] = {}
    for i, g in enumerate(groups.tolist()):
        order.setdefault(g, []).append(i)
    return [np.array(v, dtype=np.int64) for v in order.values()]


def subject_bootstrap_ci(
    statistic: Callable[[np.ndarray], float], groups: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile CI of ``statistic(eye_indices)`` resampling subjects with all their eyes.

    Reuses :func:`medscreen.evaluation.stats.bootstrap_ci` with subjects as its
    cases: it resamples indices into whatever list of cases it is given, so the
    subject indices are expanded here to their eyes before ``statistic``.
    """
    members = subject_members(groups)

    def on_subjects(idx: np.ndarray) -> float:
        return statistic(np.concatenate([members[i] for i in idx]))

    return bootstrap_ci(len(members), on_subjects, n_boot=n_boot, seed=seed)


def operating_point(y: np.ndarray, score: np.ndarray, min_sensitivity: float = MIN_SENSITIVITY) -> dict[str, float]:
    """Sensitivity / specificity at the highest threshold with sensitivity ≥ ``min_sensitivity`` (post hoc)."""
    threshold = choose_threshold(y, score, min_sensitivity)
    metrics = compute_binary_metrics(**confusion_matrix_binary(y, score, threshold))
    return {"threshold": threshold, "sensitivity": metrics["sensitivity"], "specificity": metrics["specificity"]}


# -------------------------------------------------------------------------------------------- models


def fit_hgb(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> Fitted:
    """Gradient boosting with :data:`HGB_PARAMS` (fixed a priori)."""
    model = HistGradientBoostingClassifier(**HGB_PARAMS, random_state=seed).fit(x, y)
    return Fitted(lambda z: model.predict_proba(z)[:, 1], {})


def fit_logistic(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> Fitted:
    """Median-impute → standardise → L2 logistic; ``C`` by grouped inner CV on the training part only."""
    pipeline = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=5000),
    )
    search = GridSearchCV(
        pipeline,
        {"logisticregression__C": list(LOGISTIC_C_GRID)},
        cv=StratifiedGroupKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=seed),
        scoring="roc_auc",
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping features without any observed values")
        search.fit(x, y, groups=groups)
    model = search.best_estimator_
    return Fitted(lambda z: model.predict_proba(z)[:, 1], {"C": float(search.best_params_["logisticregression__C"])})


def fit_single(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> Fitted:
    """One feature: training-median imputation, orientation by its AUC on the training part."""
    column = np.asarray(x, dtype=float).reshape(len(x), -1)[:, 0]
    median = float(np.nanmedian(column)) if np.isfinite(column).any() else 0.0
    sign = 1.0 if auc(y, np.where(np.isnan(column), median, column)) >= 0.5 else -1.0

    def score(z: np.ndarray) -> np.ndarray:
        col = np.asarray(z, dtype=float).reshape(len(z), -1)[:, 0]
        return sign * np.where(np.isnan(col), median, col)

    return Fitted(score, {"sign": sign})


def default_models(table: Table) -> list[ModelSpec]:
    """The compared models: (a) hgb, (b) logistic on clinical13; (c) both on clinical13+vf; (d) single features."""
    names = table.feature_names["clinical13"]
    return [
        ModelSpec("hgb/clinical13", "clinical13", fit_hgb),
        ModelSpec("logistic/clinical13", "clinical13", fit_logistic),
        ModelSpec("hgb/clinical13+vf", "clinical13+vf", fit_hgb),
        ModelSpec("logistic/clinical13+vf", "clinical13+vf", fit_logistic),
        ModelSpec("single/vf_mean", "clinical13", fit_single, (names.index("vf_mean"),)),
        ModelSpec("single/rnfl_mean", "clinical13", fit_single, (names.index("rnfl_mean"),)),
        ModelSpec("single/iop", "clinical13", fit_single, (names.index("iop"),)),
        ModelSpec("single/age", "clinical13", fit_single, (names.index("age"),)),
    ]


# ------------------------------------------------------------------------------------------------ CV


def outer_folds(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subject-grouped, label-stratified folds as ``(train, test)`` index arrays.

    Raises:
        AssertionError: a subject on both sides of a fold (cannot happen with a group splitter; checked anyway).
    """
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    folds = [(tr, te) for tr, te in splitter.split(np.zeros((len(y), 1)), y, groups)]
    for tr, te in folds:
        assert not set(groups[tr].tolist()) & set(groups[te].tolist()), "a subject is in train and test"
    return folds


def out_of_fold(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, fit: Fitter, folds: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Each eye's score from the model fitted on the folds it is not in, and each fold's model info."""
    oof = np.full(len(y), np.nan)
    infos = []
    for tr, te in folds:
        fitted = fit(x[tr], y[tr], groups[tr], seed)
        oof[te] = fitted.score(x[te])
        infos.append(fitted.info)
    if np.isnan(oof).any():
        raise RuntimeError("some eyes got no out-of-fold score; the folds do not cover every eye")
    return oof, infos


def summarise(
    y: np.ndarray, groups: np.ndarray, scores: np.ndarray, reference: np.ndarray | None, n_boot: int
) -> dict[str, Any]:
    """Repeat-pooled AUC statistics for ``scores`` (repeats × eyes), with subject-bootstrap CIs."""
    per_repeat = [auc(y, s) for s in scores]

    def mean_auc(idx: np.ndarray, s: np.ndarray = scores) -> float:
        return float(np.mean([auc(y[idx], row[idx]) for row in s]))

    points = [operating_point(y, s) for s in scores]
    out: dict[str, Any] = {
        "auc_mean": float(np.mean(per_repeat)),
        "auc_sd": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1 else 0.0,
        "auc_min": float(np.min(per_repeat)),
        "auc_max": float(np.max(per_repeat)),
        "auc_per_repeat": per_repeat,
        "auc_ci95_subject_bootstrap": subject_bootstrap_ci(mean_auc, groups, n_boot=n_boot),
        "post_hoc_operating_point": {
            "min_sensitivity": MIN_SENSITIVITY,
            "sensitivity_mean": float(np.mean([p["sensitivity"] for p in points])),
            "specificity_mean": float(np.mean([p["specificity"] for p in points])),
            "per_repeat": points,
        },
    }
    if reference is not None:
        out[f"auc_minus_{REFERENCE}"] = float(np.mean(per_repeat) - np.mean([auc(y, s) for s in reference]))
        out[f"auc_minus_{REFERENCE}_ci95"] = subject_bootstrap_ci(
            lambda i: mean_auc(i) - mean_auc(i, reference), groups, n_boot=n_boot
        )
    return out


def compare(table: Table, models: Sequence[ModelSpec], *, repeats: int, n_splits: int, n_boot: int) -> dict[str, Any]:
    """Run every model on the same folds of each repeat and summarise."""
    y, groups = table.y, table.groups
    fold_sets = [outer_folds(y, groups, n_splits, seed) for seed in range(repeats)]
    scores: dict[str, np.ndarray] = {}
    infos: dict[str, list[list[dict[str, Any]]]] = {}
    for spec in models:
        start = time.perf_counter()
        x = spec.matrix(table)
        rows, model_infos = [], []
        for seed, folds in enumerate(fold_sets):
            oof, info = out_of_fold(x, y, groups, spec.fit, folds, seed)
            rows.append(oof)
            model_infos.append(info)
        scores[spec.name], infos[spec.name] = np.vstack(rows), model_infos
        logger.info("%s: %.1f s", spec.name, time.perf_counter() - start)
    reference = scores.get(REFERENCE)
    results = {}
    for spec in models:
        ref = reference if spec.name != REFERENCE else None
        results[spec.name] = {
            "feature_set": spec.feature_set,
            "features": [table.feature_names[spec.feature_set][c] for c in spec.columns] if spec.columns else "all",
            **summarise(y, groups, scores[spec.name], ref, n_boot),
        }
        chosen = [i["C"] for repeat in infos[spec.name] for i in repeat if "C" in i]
        if chosen:
            values, counts = np.unique(chosen, return_counts=True)
            results[spec.name]["inner_cv_C_counts"] = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
        signs = [i["sign"] for repeat in infos[spec.name] for i in repeat if "sign" in i]
        if signs:
            results[spec.name]["folds_with_higher_value_progressing"] = f"{sum(s > 0 for s in signs)}/{len(signs)}"
    return results


def descriptive(table: Table, n_boot: int) -> dict[str, Any]:
    """Each single feature's AUC on all eyes, higher value = progressing, NaN rows left out (no fitting)."""
    columns = dict(zip(table.feature_names["clinical13"], table.features["clinical13"].T, strict=True))
    columns |= table.extras
    out = {}
    for name, values in columns.items():
        keep = np.isfinite(values)
        y, v, g = table.y[keep], values[keep], table.groups[keep]
        out[name] = {
            "n": int(keep.sum()),
            "auc_higher_is_progressing": auc(y, v),
            "ci95_subject_bootstrap": subject_bootstrap_ci(lambda i, y=y, v=v: auc(y[i], v[i]), g, n_boot=n_boot),
        }
    return out


# ---------------------------------------------------------------------------------------------- main


def _format_table(results: dict[str, Any]) -> str:
    lines = [f"{'model':28s} {'AUC mean±sd':>13s} {'range':>13s} {'95% CI (subj.)':>16s} "
             f"{'Δ vs ref [CI]':>22s} {'sens/spec@≥.85':>15s}"]
    for name, r in results.items():
        low, high = r["auc_ci95_subject_bootstrap"]
        op = r["post_hoc_operating_point"]
        delta = r.get(f"auc_minus_{REFERENCE}")
        delta_ci = r.get(f"auc_minus_{REFERENCE}_ci95")
        delta_text = f"{delta:+.3f} [{delta_ci[0]:+.2f},{delta_ci[1]:+.2f}]" if delta is not None else "(reference)"
        lines.append(
            f"{name:28s} {r['auc_mean']:.3f}±{r['auc_sd']:.3f}   {r['auc_min']:.3f}–{r['auc_max']:.3f} "
            f"  [{low:.3f}, {high:.3f}] {delta_text:>22s}   {op['sensitivity_mean']:.2f}/{op['specificity_mean']:.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "../shared/data/grape", help="GRAPE folder")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/progression_compare.json")
    parser.add_argument("--repeats", type=int, default=5, help="CV repeats with seeds 0..repeats-1")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=2000, help="subject-bootstrap resamples")
    parser.add_argument("--criterion", default="any", choices=["any", "PLR2", "PLR3", "MD"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    table = load_table(args.data, args.criterion)
    models = default_models(table)
    results = compare(table, models, repeats=args.repeats, n_splits=args.folds, n_boot=args.n_boot)
    report = {
        "task": f"GRAPE progression ({args.criterion}) from baseline data, one row per eye",
        "dataset": {
            "n_eyes": int(len(table.y)),
            "n_subjects": int(len(set(table.groups.tolist()))),
            "n_progressing": int(table.y.sum()),
            "n_stable": int((table.y == 0).sum()),
            "n_eyes_missing_rnfl": int(np.isnan(table.features["clinical13"][:, 5]).sum()),
        },
        "settings": {
            "cv": f"StratifiedGroupKFold(n_splits={args.folds}, shuffle=True, random_state=seed), groups=subject",
            "repeats": args.repeats,
            "seeds": list(range(args.repeats)),
            "n_boot": args.n_boot,
            "ci": "95% percentile bootstrap over subjects (both eyes together) of the repeat-mean pooled OOF AUC",
            "hgb_params_fixed_a_priori": HGB_PARAMS,
            "logistic": {"pipeline": "median impute -> standardise -> L2 logistic, class_weight=balanced",
                         "C_grid": list(LOGISTIC_C_GRID),
                         "inner_cv": f"StratifiedGroupKFold({INNER_FOLDS}) on the training part, ROC AUC"},
            "single_feature": "training-median imputation; orientation by training-part AUC",
            "operating_point": f"highest threshold with sensitivity >= {MIN_SENSITIVITY} on each repeat's pooled "
                               "OOF scores: chosen post hoc on the evaluated predictions (optimistic)",
            "feature_sets": table.feature_names,
            "vf_encoding": "points -1 in every eye (blind spot) dropped; other -1 read as 0 dB",
            "never_features": list(LEAKY_COLUMNS),
            "criterion": args.criterion,
            "data": str(args.data),
        },
        "models": results,
        "descriptive_univariate": descriptive(table, args.n_boot),
        "versions": {"python": sys.version.split()[0], "sklearn": sklearn.__version__, "numpy": np.__version__},
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(nan_to_none(report), indent=2) + "\n")
    print(_format_table(results))
    print(f"{report['dataset']} — wall time {report['wall_time_s']} s → {args.out}")
    return report


if __name__ == "__main__":
    main()
