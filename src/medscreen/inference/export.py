"""Export a trained PyTorch network to ONNX, prove ONNX Runtime gives the same output, and write its model card."""

from __future__ import annotations

import csv
import json
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from medscreen.errors import ModelError, choose
from medscreen.inference.card import CARD_VERSION, ModelCard, load_card, parse_card, write_card
from medscreen.inference.provenance import split_training_images
from medscreen.inference.torch_backend import check_one_task, load_training_module
from medscreen.io.images import file_sha256
from medscreen.tasks import get_task

__all__ = ["export_model", "export_onnx", "export_classifier_onnx", "check_parity", "check_classifier_parity",
           "prelu_to_leaky_relu", "strip_node_metadata", "store_weights_float16", "FLOAT16_ATOL", "WEIGHT_DTYPES",
           "model_weights_to_float16"]

log = logging.getLogger(__name__)


def export_onnx(net: torch.nn.Module, path: Path, *, in_channels: int, input_size: int) -> Path:
    """Write ``net`` as a single-file ONNX model with a dynamic batch axis.

    Input ``image``: ``N×C×S×S`` float32 in [0, 1]; output ``logits``: ``N×1×S×S``
    (segmentation) or ``N×K`` (classification).
    """
    net = net.eval().cpu()
    example = torch.rand(1, in_channels, input_size, input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=True,
            input_names=["image"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=256)},),  # by position: forward's arg names vary
            external_data=False,
            optimize=True,
        )
    prelu_to_leaky_relu(path)
    strip_node_metadata(path)
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def prelu_to_leaky_relu(path: Path) -> int:
    """Rewrite, in place, each ``PRelu`` whose slope is one constant as ``LeakyRelu(alpha=slope)``.

    The same function (``x`` if ``x ≥ 0`` else ``slope · x``; MONAI's U-Nets use
    single-slope PReLU), but ONNX Runtime's CPU ``PRelu`` broadcasts its slope
    slowly and is not fused into the preceding ``Conv``, while ``LeakyRelu`` is
    both: the bundled disc U-Net runs 35.6 → 25.2 ms per 256² pass on one core
    with bit-identical output (lesion: 28.7 → 23.3 ms, |Δlogit| < 1e-5).

    Returns:
        How many nodes were rewritten (0 leaves the file untouched).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    constants = {i.name: i for i in model.graph.initializer}
    count = 0
    for node in model.graph.node:
        slope = constants.get(node.input[1]) if node.op_type == "PRelu" and len(node.input) == 2 else None
        if slope is None or int(np.prod(slope.dims)) != 1:
            continue
        alpha = float(numpy_helper.to_array(slope).ravel()[0])
        node.op_type = "LeakyRelu"
        del node.input[1]
        node.attribute.append(helper.make_attribute("alpha", alpha))
        count += 1
    if count:
        used = {name for node in model.graph.node for name in node.input}
        kept = [i for i in model.graph.initializer if i.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return count


def strip_node_metadata(path: Path) -> int:
    """Drop, in place, the ``metadata_props`` and ``doc_string`` of every node; return the bytes saved.

    PyTorch's exporter annotates each node with its Python stack trace and
    module path (about 3 kB a node: 0.23 MB of a 6.6 MB two-network classifier).
    ONNX Runtime never reads them; the bundle has a size budget (40 MB).
    """
    import onnx

    before = Path(path).stat().st_size
    model = onnx.load(str(path))
    if not any(len(node.metadata_props) or node.doc_string for node in model.graph.node):
        return 0
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, str(path))
    return before - Path(path).stat().st_size


#: largest accepted logit change when an exported model's weights are stored in float16
FLOAT16_ATOL = 0.05
#: how an exported ONNX file may store its weights (``export_model``'s ``weights``)
WEIGHT_DTYPES = ("float32", "float16")


def _random_feeds(session: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Two standard-normal samples for each input of an ONNX Runtime session (dynamic axes → 2)."""
    rng = np.random.default_rng(seed)
    return {i.name: rng.standard_normal([d if isinstance(d, int) else 2 for d in i.shape]).astype(np.float32)
            for i in session.get_inputs()}


def store_weights_float16(path: Path, *, atol: float = FLOAT16_ATOL, min_elements: int = 1024) -> float:
    """Store, in place, each float32 weight tensor of ``path`` in float16, cast back to float32 when loaded.

    Halves the file (the bundle has a 40 MB budget) without changing how the
    model computes: each weight ``w`` becomes an initializer ``w__float16`` and a
    ``Cast(to=FLOAT)`` node that outputs ``w``; ONNX Runtime folds these casts
    into float32 constants when the session is created, so inference runs the
    same float32 kernels at the same speed. The ``.pt`` beside a bundled model
    already holds float16 weights (:func:`~medscreen.models.weights.save_weights`),
    so both backends then run the same rounded weights. Small tensors (under
    ``min_elements``) stay float32. Written by hand because the ONNX tools
    (onnxconverter-common's ``convert_float_to_float16``) convert the computation
    too, and float16 kernels are slow or missing on CPUs.

    Measured by this function on the bundled models: lesion 1.8e-2, progression
    3.5e-4, the four-member breast-class ensemble 2.5e-4 (the lesion model's
    validation Dice through the float16 file is the same to four decimals).

    Returns:
        The largest absolute logit change on random input (two samples).

    Raises:
        ModelError: the change exceeds ``atol`` (the file is left as it was).
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found; pass an existing .onnx (with its .json card)")
    try:
        model = onnx.load(str(path))
        before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001  onnx and onnxruntime raise untyped errors on corrupt files
        raise ModelError(f"{path}: not a loadable ONNX model ({type(exc).__name__}); re-export it") from None
    if any(init.name.endswith("__float16") for init in model.graph.initializer):
        raise ModelError(f"{path}: its weights are float16 already")
    feeds = _random_feeds(before)
    reference = before.run(None, feeds)
    kept, casts = [], []
    for init in model.graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= min_elements:
            half = numpy_helper.to_array(init).astype(np.float16)
            kept.append(numpy_helper.from_array(half, f"{init.name}__float16"))
            casts.append(helper.make_node("Cast", [f"{init.name}__float16"], [init.name], to=TensorProto.FLOAT))
        else:
            kept.append(init)
    nodes = casts + list(model.graph.node)  # the casts first: the graph's nodes stay in topological order
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    after = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    diff = max(float(np.abs(a - b).max()) for a, b in zip(reference, after.run(None, feeds), strict=True))
    if not diff <= atol:
        raise ModelError(f"{path}: float16 weights change its logits by {diff:.2e} (> {atol:.0e}); "
                         "export it with float32 weights")
    path.write_bytes(data)
    return diff


def model_weights_to_float16(model: Path) -> ModelCard:
    """Store an exported model's weights in float16 (:func:`store_weights_float16`) and update its card.

    The card beside ``model`` gets the new ``sha256``, ``weights_dtype: float16``
    and ``float16_max_abs_diff``; its metrics are kept as they are, so use this on
    a model whose figures were not measured through the ONNX file, or measure them again.

    Raises:
        ModelError: no card beside ``model``, its weights are float16 already, or the change is too large.
    """
    model = Path(model)
    card_path = model.with_suffix(".json")
    if not card_path.is_file():
        raise ModelError(f"{model}: no card {card_path.name} beside it; export the model first")
    card = load_card(card_path)
    diff = store_weights_float16(model)
    card = card.model_copy(update={"sha256": file_sha256(model), "weights_dtype": "float16",
                                   "float16_max_abs_diff": diff})
    write_card(card, model)
    return card


def check_parity(net: torch.nn.Module, onnx_path: Path, images: np.ndarray, *, atol: float = 1e-4) -> float:
    """Largest absolute difference of logits between PyTorch and ONNX Runtime on ``images``.

    Raises:
        ModelError: the difference exceeds ``atol``.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = net.eval()(torch.as_tensor(images, dtype=torch.float32)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]
    diff = float(np.abs(ref - got).max())
    if not diff <= atol:
        raise ModelError(f"{onnx_path}: ONNX Runtime output differs from PyTorch by {diff:.2e} (> {atol:.0e})")
    return diff


class _Inputs(torch.nn.Module):
    """Fixes which of a ScreeningClassifier's inputs the exported graph takes (ONNX has no optional inputs)."""

    def __init__(self, net: torch.nn.Module, image: bool, clinical: bool):
        super().__init__()
        self.net, self.image, self.clinical = net, image, clinical

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        it = iter(inputs)
        image = next(it) if self.image else None
        clinical = next(it) if self.clinical else None
        return self.net(image, clinical)


def export_classifier_onnx(
    net: torch.nn.Module, path: Path, *, image: bool, clinical: int | None, in_channels: int, input_size: int
) -> Path:
    """Write a classifier as single-file ONNX with inputs ``image`` (``N×C×S×S``) and/or ``clinical`` (``N×F``).

    Output ``logits``: ``N×1`` (binary) or ``N×K``. Dynamic batch axis.
    """
    wrapper = _Inputs(net.eval().cpu(), image, clinical is not None).eval()
    batch = torch.export.Dim("batch", min=1, max=256)
    examples, names, shapes = [], [], []
    if image:
        examples.append(torch.rand(2, in_channels, input_size, input_size))
        names.append("image")
        shapes.append({0: batch})
    if clinical is not None:
        examples.append(torch.rand(2, clinical))
        names.append("clinical")
        shapes.append({0: batch})
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, tuple(examples), str(path), dynamo=True, input_names=names, output_names=["logits"],
            dynamic_shapes=(tuple(shapes),), external_data=False, optimize=True,
        )
    strip_node_metadata(path)
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def check_classifier_parity(net: torch.nn.Module, onnx_path: Path, feeds: dict[str, np.ndarray], *,
                            atol: float = 1e-4) -> float:
    """Largest absolute logit difference between PyTorch and ONNX Runtime on named ``feeds``.

    Raises:
        ModelError: the difference exceeds ``atol``.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = net.eval()(*(torch.as_tensor(feeds[k]) if k in feeds else None for k in ("image", "clinical"))).numpy()
    got = session.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})[0]
    diff = float(np.abs(ref - got).max())
    if not diff <= atol:
        raise ModelError(f"{onnx_path}: ONNX Runtime output differs from PyTorch by {diff:.2e} (> {atol:.0e})")
    return diff


def _card_source(card_source: Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if card_source is None:
        return {}
    if isinstance(card_source, Mapping):
        return dict(card_source)
    try:
        data = json.loads(Path(card_source).read_text())
    except FileNotFoundError:
        raise ModelError(f"card source {card_source} not found; give a JSON file such as cards/disc.json") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"card source {card_source}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"card source {card_source}: expected a JSON object of card fields")
    return data


def _run_training_data(run: Path) -> list[dict[str, str]]:
    """Credits of the datasets in the run's ``split.csv`` (column ``dataset``).

    Raises:
        ModelError: no ``split.csv``, or a dataset whose licence medscreen does not know.
    """
    from medscreen.datasets.credits import DATASET_CREDITS

    split = run / "split.csv"
    if not split.is_file():
        raise ModelError(f"{run}: no split.csv to tell which datasets trained the model; give a card source "
                         'with "training_data": [{"name", "licence", "citation"}] (--card FILE)')
    with open(split, newline="") as fh:
        names = sorted({row.get("dataset") or "" for row in csv.DictReader(fh)})
    unknown = [n for n in names if n not in DATASET_CREDITS]
    if unknown:
        raise ModelError(f"{run}: trained on {', '.join(repr(n) for n in unknown)}, whose licence and citation "
                         f"medscreen does not know (it knows {', '.join(DATASET_CREDITS)}); give a card source with "
                         '"training_data": [{"name", "licence", "citation"}] (--card FILE)')
    return [DATASET_CREDITS[n] for n in names]


def _run_training_images(run: Path) -> dict[str, Any]:
    """``{"training_images": …}`` from the run's ``split.csv``; empty (unknown) when the run has none.

    Raises:
        ModelError: split.csv names images that cannot be read here.
    """
    split = run / "split.csv"
    if not split.is_file():
        log.warning("%s: no split.csv, so the card cannot record the training images", run)
        return {}
    return {"training_images": split_training_images(split).model_dump()}


#: settings the members of a segmentation ensemble must share besides the task: what the network is and what it is fed
_SEGMENTATION_SHARED = ("arch", "norm", "input_size", "threshold")


def _ensemble_entry(seeds: Sequence[int], augments: Sequence[str], checkpoints: Sequence[Path]) -> dict[str, Any]:
    """A card's ``ensemble`` (:class:`~medscreen.inference.card.EnsembleInfo`) for mean-logit members."""
    return {"members": len(checkpoints), "seeds": list(seeds), "augments": list(augments), "combine": "mean logit",
            "checkpoints": [str(c) for c in checkpoints]}


def _segmentation_card(modules: Sequence[Any], checkpoints: Sequence[Path], out: Path, params: Mapping[str, Any],
                       atol: float) -> dict[str, Any]:
    """Export one segmentation run, or several as one graph (mean logit), and assemble the card fields.

    Ensemble members (of one task: :func:`~medscreen.inference.torch_backend.check_one_task`) must
    agree on :data:`_SEGMENTATION_SHARED`; they may differ in how they were trained (seed, epochs,
    learning rate, fine-tuning).
    """
    cfg = modules[0].config
    for module, checkpoint in zip(modules[1:], checkpoints[1:]):
        differ = [k for k in _SEGMENTATION_SHARED if getattr(module.config, k) != getattr(cfg, k)]
        if differ:
            raise ModelError(f"{checkpoint}: differs from {checkpoints[0]} in {', '.join(differ)}; the members of a "
                             f"segmentation ensemble share {', '.join(_SEGMENTATION_SHARED)}")
    if len(modules) > 1:
        from medscreen.models.ensemble import MeanLogits

        net = MeanLogits([m.net for m in modules]).eval()
    else:
        net = modules[0].net
    channels = get_task(cfg.task).in_channels
    export_onnx(net, out, in_channels=channels, input_size=cfg.input_size)
    images = np.random.default_rng(0).random((2, channels, cfg.input_size, cfg.input_size), dtype=np.float32)
    diff = _checked(lambda: check_parity(net, out, images, atol=atol), out)
    defaults = get_task(cfg.task).card_params  # the inference parameters a card of this task carries
    card = {
        "task": cfg.task, "arch": cfg.arch, "input_size": cfg.input_size, "in_channels": channels,
        "threshold": cfg.threshold, "params": {k: params.get(k, v) for k, v in defaults.items()},
        "output": "N×1×S×S logits; sigmoid > threshold is the mask",
        "parameters": sum(p.numel() for p in net.parameters()),
        "training_config": cfg.model_dump(),
        "onnx_parity_max_abs_diff": diff, "onnx_parity_atol": atol,
    }
    if len(modules) > 1:
        card["ensemble"] = _ensemble_entry([m.config.seed for m in modules], [], checkpoints)  # no presets here
    return card


def _classifier_fields(net: torch.nn.Module, cfg: Any, out: Path, atol: float, threshold: float,
                       summary: Mapping[str, Any], metrics_name: str) -> dict[str, Any]:
    """Export a classifier network (one run's or an ensemble's) and assemble its card fields."""
    from medscreen.datasets.clinical import CLINICAL_FEATURES
    from medscreen.inference.classification import spec_params

    n_clinical = len(CLINICAL_FEATURES) if cfg.uses_clinical else None
    export_classifier_onnx(net, out, image=cfg.uses_image, clinical=n_clinical, in_channels=cfg.in_channels,
                           input_size=cfg.input_size)
    rng = np.random.default_rng(0)
    feeds = {}
    if cfg.uses_image:
        feeds["image"] = rng.standard_normal((2, cfg.in_channels, cfg.input_size, cfg.input_size), dtype=np.float32)
    if n_clinical:
        feeds["clinical"] = np.asarray(net.clinical_mean)[None].repeat(2, 0) + rng.standard_normal(
            (2, n_clinical)).astype(np.float32)
    diff = _checked(lambda: check_classifier_parity(net, out, feeds, atol=atol), out)
    card: dict[str, Any] = {
        "task": cfg.task, "arch": cfg.arch if cfg.uses_image else None, "input_size": cfg.input_size,
        "in_channels": cfg.in_channels, "threshold": threshold,
        "threshold_rule": summary.get("threshold_rule", "0.5 (no run summary found)"),
        "params": spec_params(cfg.model_dump(), cfg.classes),
        "output": "N×1 logit of the positive class (sigmoid ≥ threshold = positive)" if cfg.binary
        else f"N×{len(cfg.classes)} logits ({', '.join(cfg.classes)}); softmax, argmax",
        "parameters": sum(p.numel() for p in net.parameters()),
        "training_config": cfg.model_dump(),
        "training_split": {k: summary.get(k) for k in ("n_train", "n_val", "train_class_counts", "epochs_run")},
        "onnx_parity_max_abs_diff": diff, "onnx_parity_atol": atol,
    }
    if "validation" in summary:
        card["metrics"] = {metrics_name: summary["validation"]}
    return card


def _classifier_card(module: Any, checkpoint: Path, out: Path, atol: float) -> dict[str, Any]:
    from medscreen.training.classification import run_threshold

    summary_path = checkpoint.parent.parent / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return _classifier_fields(module.net, module.config, out, atol, run_threshold(checkpoint), summary,
                              "validation split of the training run")


def _ensemble_card(checkpoints: Sequence[Path], out: Path, atol: float,
                   val_predictions: Path | None) -> dict[str, Any]:
    """Several seed runs as one ONNX graph (mean logit); threshold and report from their shared split."""
    from medscreen.models.ensemble import MeanLogits
    from medscreen.training.ensemble import load_ensemble

    ensemble = load_ensemble(checkpoints)
    if ensemble.config.uses_clinical:
        raise ModelError(f"{checkpoints[0]}: ensembles of classifiers with clinical inputs are not supported; "
                         "export one checkpoint")
    if val_predictions is not None:
        ensemble.write_predictions(val_predictions)
    net = MeanLogits([m.net for m in ensemble.members]).eval()
    card = _classifier_fields(net, ensemble.config, out, atol, ensemble.threshold, ensemble.summary(),
                              "validation split of the training runs (ensemble)")
    card["ensemble"] = _ensemble_entry(ensemble.seeds, [m.config.augment for m in ensemble.members],
                                       ensemble.checkpoints)
    return card


_T = TypeVar("_T")


def _checked(check: Callable[[], _T], out: Path) -> _T:
    """Run a check of the written model (parity, its card); never leave a model that failed it."""
    try:
        return check()
    except Exception:
        out.unlink(missing_ok=True)
        raise


def export_model(
    checkpoint: Path | Sequence[Path],
    out: Path,
    card_source: Path | Mapping[str, Any] | None = None,
    *,
    kind: str | None = None,
    atol: float | None = None,
    params: Mapping[str, Any] | None = None,
    val_predictions: Path | None = None,
    weights: str = "float32",
) -> ModelCard:
    """Export a training checkpoint to ``out`` (ONNX) with its card (``.json`` + ``.md``), after a parity check.

    The card is assembled from the checkpoint (task, architecture, input, the
    training config), the run folder (``summary.json``: threshold rule, split
    sizes, validation metrics) and ``card_source`` (a JSON file or mapping of
    card fields — data, intended use, limits, ``training_data``… — that
    override the assembled ones). Without ``training_data`` in the source, the
    datasets of the run's ``split.csv`` are credited from
    :data:`~medscreen.datasets.credits.DATASET_CREDITS`; without
    ``training_images``, the SHA-256 of each of its train and val images is
    recorded (a crop's source photo where the split has ``source_sha256``), so
    that ``medscreen evaluate`` can tell seen images from unseen.

    Several checkpoints make one ensemble (:class:`~medscreen.models.ensemble.MeanLogits`) and the
    card gets an ``ensemble`` entry. Classifiers: runs that differ only in ``--seed`` (and ``--augment``)
    and share one validation split; the threshold is chosen on the ensemble's predictions on that split
    (:func:`~medscreen.training.ensemble.load_ensemble`). Segmentation: runs of one task, architecture,
    normalisation, input size and threshold (the mask is the mean logit's).

    Args:
        checkpoint: ``checkpoints/best.ckpt`` of a ``medscreen train`` run, or several (an ensemble).
        out: the ONNX file to write; the card is written beside it.
        card_source: card fields to add, or None.
        kind: ``segmentation`` or ``classification`` to refuse a checkpoint of the other kind; None accepts both.
        atol: largest accepted PyTorch/ONNX Runtime logit difference (default 1e-3 segmentation, 1e-4 classification).
        params: segmentation inference parameters: ``refine_k`` (disc, default 3.0), ``refine_scales``
            (disc, default ``[1.0]``),
            ``min_area_fraction`` (lesion, default 0.0).
        val_predictions: an ensemble's validation predictions are written here (a run's
            ``val_predictions.csv`` layout, for ``scripts/operating_point.py``); ignored for one checkpoint.
        weights: ``float32``, or ``float16`` to store the weights at half the size
            (:func:`store_weights_float16`; the card records ``weights_dtype`` and ``float16_max_abs_diff``).
            Parity with PyTorch is checked before, on the float32 export.

    Returns:
        The card written.

    Raises:
        ModelError: unreadable checkpoint or card source, unknown training data, training images that cannot
            be read, or a failed parity check (nothing is left at ``out`` then).
        ConfigError: ``weights`` is not one of :data:`WEIGHT_DTYPES`.
    """
    checkpoints = [Path(c) for c in ([checkpoint] if isinstance(checkpoint, (str, Path)) else checkpoint)]
    choose(weights, WEIGHT_DTYPES, "--weights")
    if not checkpoints:
        raise ModelError("no checkpoint given; give a run's checkpoints/best.ckpt")
    checkpoint, out = checkpoints[0], Path(out)
    module = load_training_module(checkpoint)
    found = get_task(module.config.task).kind
    if kind is not None and found != kind:
        raise ModelError(f"{checkpoint}: a {found} checkpoint ({module.config.task}), not {kind}; "
                         f"use `medscreen export {'segmentation' if found == 'segmentation' else 'classifier'}`")
    extra = _card_source(card_source)
    if "training_data" not in extra and "licences" not in extra:
        extra["training_data"] = _run_training_data(checkpoint.parent.parent)
    images = {} if "training_images" in extra else _run_training_images(checkpoint.parent.parent)
    if found == "segmentation":
        modules = [module, *(load_training_module(c) for c in checkpoints[1:])]
        check_one_task(modules, checkpoints)
        fields = _segmentation_card(modules, checkpoints, out, params or {}, 1e-3 if atol is None else atol)
    elif len(checkpoints) > 1:
        fields = _ensemble_card(checkpoints, out, 1e-4 if atol is None else atol, val_predictions)
    else:
        fields = _classifier_card(module, checkpoint, out, 1e-4 if atol is None else atol)
    if weights == "float16":
        fields["weights_dtype"] = weights
        fields["float16_max_abs_diff"] = _checked(lambda: store_weights_float16(out), out)
    # a card source that does not make a valid card leaves no model without a card behind
    card = _checked(lambda: parse_card({"card_version": CARD_VERSION, **fields, "sha256": file_sha256(out),
                                        **images, **extra}, out.name), out)
    write_card(card, out)
    log.info("exported %s with its card (max |Δlogit| %.2e)", out, card.onnx_parity_max_abs_diff)
    return card
