"""Model cards: the machine-readable ``.json`` beside each ONNX file and the human ``.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_card", "render_card_markdown"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float | int | None) for v in value):
        return "–".join("n/a" if v is None else f"{v:.3f}" for v in value)
    return str(value)


#: figures shown in a card's validation tables, when present (segmentation, then classification)
_METRIC_ROWS = ("n", "dice", "iou", "pixel_dice", "pixel_iou", "hd95", "auc", "accuracy", "threshold",
                "sensitivity", "specificity", "precision", "recall", "npv", "f1", "mcc", "ece")


def render_card_markdown(card: dict[str, Any]) -> str:
    """A readable model card from the JSON card."""
    lines = [f"# medscreen `{card['task']}` model", "", card.get("summary", card.get("name", "")), ""]
    lines += ["## Inputs and outputs", ""]
    preprocessing = card.get("preprocessing") or card.get("params", {}).get("preprocess", "")
    lines += [f"- Input: {card['in_channels']}×{card['input_size']}×{card['input_size']} float32 in [0, 1] "
              f"({preprocessing})",
              f"- Output: {card.get('output', '')}", f"- Threshold: {card.get('threshold')}",
              f"- Architecture: `{card.get('arch')}` ({card.get('parameters', '?')} parameters)",
              f"- ONNX SHA-256: `{card.get('sha256', '')}`", ""]
    if card.get("params"):
        lines += [f"- Inference parameters: `{json.dumps(card['params'])}`", ""]
    lines += ["## Data", "", card.get("data", ""), ""]
    lines += ["## How it was made", "", "```", *card.get("commands", []), "```", ""]
    for name, metrics in card.get("metrics", {}).items():
        lines += [f"## Validation: {name}", "", "| metric | value | 95 % CI |", "|---|---|---|"]
        for key in _METRIC_ROWS:
            if key in metrics:
                lines.append(f"| {key} | {_fmt(metrics[key])} | {_fmt(metrics.get(key + '_ci95', ''))} |")
        if "confusion_matrix" in metrics:
            lines.append(f"| confusion matrix (rows = truth: {', '.join(map(str, metrics.get('labels', [])))}) "
                         f"| {metrics['confusion_matrix']} | — |")
        for label, m in metrics.get("per_class", {}).items():
            lines.append(f"| class `{label}` (n={m['n']}) | sensitivity {_fmt(m['sensitivity'])}, "
                         f"precision {_fmt(m['precision'])}, AUC {_fmt(m['auc'])} | — |")
        for source, m in metrics.get("by_source", {}).items():
            keys = [k for k in ("auc", "accuracy", "sensitivity", "specificity") if m.get(k) is not None]
            lines.append(f"| `{source}` (n={m['n']}) | " + ", ".join(f"{k} {_fmt(m[k])}" for k in keys)
                         + f" | AUC {_fmt(m.get('auc_ci95'))} |")
        for name_, m in metrics.items():  # nested results such as the transfer benchmark's
            if isinstance(m, dict) and "share_flagged" in m:
                lines.append(f"| `{name_}` (n={m['n']}): share flagged | {_fmt(m['share_flagged'])} "
                             f"| {_fmt(m.get('share_flagged_ci95', ''))} |")
        empty = metrics.get("empty_truth", {})
        if empty.get("n"):
            lines.append(f"| images with empty truth | {empty['n']} | — |")
            lines.append(f"| … share with any predicted pixel | {_fmt(empty['false_positive_rate'])} | — |")
        for view, m in metrics.get("by_view", {}).items():
            lines.append(f"| IoU on `{view}` views (n={m['n']}) | {_fmt(m['iou'])} | {_fmt(m['iou_ci95'])} |")
        for source, m in metrics.get("by_dataset", {}).items():
            lines.append(f"| Dice on `{source}` images (n={m['n']}) | {_fmt(m['dice'])} | {_fmt(m['dice_ci95'])} |")
            if m.get("empty_truth", {}).get("n"):
                lines.append(f"| … `{source}` normal images with any predicted lesion (n={m['empty_truth']['n']}) "
                             f"| {_fmt(m['empty_truth']['false_positive_rate'])} | — |")
        lines.append("")
    lines += ["## Intended use", "", card.get("intended_use", ""), "", "## Known limits", ""]
    lines += [f"- {x}" for x in card.get("limits", [])]
    lines += ["", "## Licences of the training data", ""] + [f"- {x}" for x in card.get("licences", [])]
    return "\n".join(lines) + "\n"


def write_card(card: dict[str, Any], onnx_path: Path) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` beside ``onnx_path``."""
    json_path, md_path = onnx_path.with_suffix(".json"), onnx_path.with_suffix(".md")
    json_path.write_text(json.dumps(card, indent=2) + "\n")
    md_path.write_text(render_card_markdown(card))
    return json_path, md_path
