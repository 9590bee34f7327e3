"""How a glaucoma classifier transfers to full photos from cameras it never saw; writes JSON.

The full-photo pipeline (bundled disc model → disc crop → classifier at its
stored threshold) runs on:

* GRAPE's full photos (``CFPs/``, baseline visit of each eye; every eye is
  glaucomatous): the share flagged is the **sensitivity** on a new camera.
* IDRiD's 54 full photos (a diabetic-retinopathy set with no glaucoma labels;
  most eyes are expected to be free of glaucoma): the share flagged is an
  **upper bound on the false-positive rate** on another new camera — a proxy,
  not a specificity.
* scikit-image's retina photo (a normal eye): its probability and whether it is flagged.

``grape_vs_idrid_auc`` ranks GRAPE's photos against IDRiD's: an AUC across two
unseen cameras (a lower bound, since IDRiD's few glaucomatous eyes count as
negatives); for a card that fuses the disc's pallor, ``grape_vs_idrid_auc_network_alone``
and ``grape_vs_idrid_auc_pallor_alone`` give its two parts' own. Each also gives
``share_refer_or_review``: the share of the photos with a crop that
the classifier sends to a specialist, at the threshold or inside the card's review band below it;
and ``pipeline``: the advice the whole screening pipeline gives each photo (its input check and
the disc card's rules included: rescreen for an implausible disc, review for a large and unsure one),
counted over all photos — what a clinic would see (ONNX models only).

``--disc-model`` runs another disc model than the bundled one (a candidate before it ships).

    python benchmarks/glaucoma_transfer.py --model src/medscreen/weights/glaucoma.onnx \
        --out benchmarks/results/glaucoma_transfer.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from medscreen.config import get_settings
from medscreen.datasets.grape import with_grape_images
from medscreen.datasets.registry import read_dataset
from medscreen.evaluation.classification import auc_with_ci
from medscreen.evaluation.stats import bootstrap_ci
from medscreen.inference.classification import disc_masker, fundus_crop, load_classifier
from medscreen.io.images import read_image
from medscreen.transforms.classification import disc_pallor


def flagged(images, classifier, disc=None, screener=None) -> dict:
    """The classifier at its threshold on each photo's disc crop; with ``screener``, the pipeline's advice too.

    Each photo is decoded once; ``seconds_per_photo`` is decoding, disc crop and classifier only.
    """
    probs, advice, no_disc, seconds = [], [], 0, 0.0
    params = classifier.spec.params
    fusion = params.pallor_fusion
    network, pallor = [], []  # a fused card's parts, for the parts' own AUCs
    for image in images:
        start = time.perf_counter()
        rgb = read_image(image) if isinstance(image, Path) else image
        crop = fundus_crop(rgb, is_crop=False, framing=params.framing, k=params.crop_k, disc=disc)
        if crop is None:
            no_disc += 1
        elif fusion is None:
            probs.append(float(classifier.predict([crop])[0]))
        else:
            pallor.append(disc_pallor(crop, fusion.radius, fusion.scale))
            network.append(float(classifier.network_logits([crop])[0, 0]))
            probs.append(float(classifier.predict([crop], pallor=np.array(pallor[-1:]))[0]))
        seconds += time.perf_counter() - start
        if screener is not None:
            advice.append(screener.screen(rgb, "fundus").advice)
    p = np.array(probs)
    hit = (p >= classifier.spec.threshold).astype(float)
    band = params.review_band
    # what the classifier alone sends to a specialist: refer (≥ threshold) or review (inside the band below it)
    sent = (p >= min(classifier.spec.threshold, band[0] if band else 1.0)).astype(float)
    out = {
        "probabilities": p.round(6).tolist(),
        **({"network_logits": network, "pallor": pallor} if fusion is not None else {}),
        "n": len(images), "no_disc_found": no_disc, "share_flagged": float(hit.mean()) if hit.size else None,
        "share_flagged_ci95": bootstrap_ci(len(hit), lambda i: float(hit[i].mean()), n_boot=2000, seed=0),
        "share_refer_or_review": float(sent.mean()) if sent.size else None,
        "share_refer_or_review_ci95": bootstrap_ci(len(sent), lambda i: float(sent[i].mean()), n_boot=2000, seed=0),
        "median_probability": float(np.median(p)) if p.size else None,
        "seconds_per_photo": seconds / max(1, len(images)),
    }
    if screener is not None:  # the pipeline's advice over all photos: counts, and the share sent to a specialist
        to_specialist = np.array([a in ("refer", "review") for a in advice], float)
        out["pipeline"] = {
            "advice": {a: advice.count(a) for a in ("refer", "review", "routine", "rescreen")},
            "share_refer_or_review": float(to_specialist.mean()) if advice else None,
            "share_refer_or_review_ci95": bootstrap_ci(len(advice), lambda i: float(to_specialist[i].mean()),
                                                       n_boot=2000, seed=0)}
    return out


def _auc_with_ci(name: str, truth: np.ndarray, scores: np.ndarray) -> dict:
    """``{name: AUC, name_ci95: bootstrap 95 % CI}``."""
    measured = auc_with_ci(truth, scores)
    return {name: measured["auc"], f"{name}_ci95": measured["auc_ci95"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="glaucoma .onnx or .ckpt (default: bundled)")
    parser.add_argument("--disc-model", type=Path, default=None, help="disc .onnx (default: bundled)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/glaucoma_transfer.json"))
    args = parser.parse_args()
    from skimage import data as skdata

    disc = disc_masker(args.disc_model)
    data = get_settings().paths.data_dir
    classifier = load_classifier("glaucoma", args.model)
    grape = [r for r in with_grape_images(list(read_dataset(data / "grape").records), "cfp")
             if r.fields.get("visit") == 1]
    idrid = list(read_dataset(data / "idrid").records)
    retina = np.ascontiguousarray(skdata.retina()[..., :3])
    screener = None
    if args.model is None or args.model.suffix == ".onnx":  # the pipeline runs ONNX models only
        from medscreen.pipelines.screening import Screener

        chosen = {"glaucoma": args.model, "disc": args.disc_model}
        screener = Screener(models={task: path for task, path in chosen.items() if path is not None}, threads=1)
    result = {
        "model": classifier.description, "threshold": classifier.spec.threshold,
        "disc_model": str(args.disc_model or "bundled"),
        "grape_full_photos_all_glaucoma": flagged([r.image for r in grape], classifier, disc, screener),
        "idrid_full_photos_unlabelled": flagged([r.image for r in idrid], classifier, disc, screener),
        "skimage_retina_normal": flagged([retina], classifier, disc, screener),
    }
    # GRAPE (all glaucoma) against IDRiD (a retina clinic, mostly without glaucoma): an AUC across two unseen
    # cameras — a lower bound on the true one, since IDRiD's few glaucomatous eyes count as negatives
    grape, idrid = result["grape_full_photos_all_glaucoma"], result["idrid_full_photos_unlabelled"]
    pos, neg = grape.pop("probabilities"), idrid.pop("probabilities")
    result["skimage_retina_normal"].pop("probabilities")
    result["skimage_retina_normal"].pop("network_logits", None)
    result["skimage_retina_normal"].pop("pallor", None)
    truth = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    result.update(_auc_with_ci("grape_vs_idrid_auc", truth, np.r_[pos, neg]))
    if "pallor" in grape:  # a fused card: what the network and the pallor rank each on their own
        for part in ("network_logits", "pallor"):
            scores = np.r_[grape.pop(part), idrid.pop(part)]
            result.update(_auc_with_ci(f"grape_vs_idrid_auc_{part.split('_')[0]}_alone", truth, scores))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
