"""Imports flow one way, and the light entry points stay light.

* The clinic server and :func:`medscreen.screen` run on ONNX Runtime, NumPy and
  the web stack: importing ``medscreen.server.app`` and building the app loads
  no PyTorch, Lightning, MONAI, pandas, openpyxl, scikit-learn, scikit-image,
  Matplotlib or SciPy, and neither does screening an image (the few SciPy filters it
  needs are in :mod:`medscreen.transforms._ndimage`).
* ``medscreen --help`` (and every sub-command's ``--help``) loads none of them.
* Packages import only packages to their left in
  ``io → datasets → transforms/models → evaluation → training → inference →
  pipelines → store → server → cli``; ``config``, ``errors`` and ``tasks`` are
  leaves. Function-level imports count too. The screening side (pipelines,
  store, server) never imports the PyTorch packages (models, training).

Each check runs in a fresh interpreter, so what other tests imported does not matter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import medscreen

PACKAGE = Path(medscreen.__file__).resolve().parent

#: never loaded by the server, ``screen()`` or ``--help``
HEAVY = ("torch", "lightning", "monai", "pandas", "openpyxl", "scipy", "sklearn", "skimage", "matplotlib")

_REPORT = """
import json, sys

def report(stage):
    heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
    print(json.dumps({"stage": stage, "heavy": heavy}))
"""


def _loaded_after(code: str) -> dict[str, dict[str, list[str]]]:
    """Run ``code`` in a fresh interpreter; what each ``report(stage)`` call in it found loaded, by stage."""
    script = f"HEAVY = {HEAVY!r}\n{_REPORT}\n{code}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    stages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"stage"')]
    return {s.pop("stage"): s for s in stages}


def test_server_app_and_screen_load_no_heavy_library(tmp_path: Path) -> None:
    code = f"""
import numpy as np
from pathlib import Path
import medscreen
from medscreen.server.app import create_app

app = create_app(Path({str(tmp_path)!r}), "sqlite://")
assert app.title == "medscreen"
report("server")
# a fundus-like photo: dark surround, orange field, bright disc right of centre
yy, xx = np.mgrid[:512, :512]
image = np.zeros((512, 512, 3), np.uint8)
image[np.hypot(yy - 256, xx - 256) < 240] = (150, 60, 30)
image[np.hypot(yy - 256, xx - 330) < 35] = (240, 200, 120)
result = medscreen.screen(image, modality="fundus")
assert result.advice in ("refer", "review", "rescreen", "routine"), result.advice
# a grey speckle image screened as ultrasound (lesion and breast-class stages)
grey = (np.random.default_rng(0).random((400, 500)) * 160).astype(np.uint8)
result = medscreen.screen(grey, modality="ultrasound")
assert result.advice in ("refer", "review", "rescreen", "routine"), result.advice
report("screen")
"""
    loaded = _loaded_after(code)
    assert loaded["server"] == {"heavy": []}
    assert loaded["screen"] == {"heavy": []}


def test_cli_help_loads_no_heavy_library() -> None:
    code = """
from medscreen.cli.main import app
import typer.main

def helps(command, path):
    yield [*path, "--help"]
    for name, sub in getattr(command, "commands", {}).items():
        yield from helps(sub, [*path, name])

shown = 0
for args in helps(typer.main.get_command(app), []):
    try:
        app(args, prog_name="medscreen")
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
    shown += 1
assert shown > 20, shown
report("help")
"""
    assert _loaded_after(code)["help"] == {"heavy": []}


def test_python_dash_m_medscreen_prints_the_help() -> None:
    done = subprocess.run([sys.executable, "-m", "medscreen", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "medscreen" in done.stdout and "serve" in done.stdout and "train" in done.stdout


# ---------------------------------------------------------------------------- layering

#: packages in the order data flows; a package imports only packages of a lower rank
RANK = {"io": 0, "datasets": 1, "transforms": 2, "models": 2, "evaluation": 3, "training": 4, "inference": 5,
        "pipelines": 6, "store": 7, "server": 8, "cli": 9}
#: modules any package may import (they import only each other)
LEAVES = {"config", "constants", "errors", "i18n", "tasks"}
#: facades over everything: the package's lazy ``screen`` and ``python -m medscreen``
FACADES = {"medscreen", "medscreen.__main__"}
#: packages that import PyTorch; the screening side never imports them, inference and the CLI
#: only inside the functions that need them (``.ckpt`` files, the torch backend, training commands)
TORCH_PACKAGES = {"models", "training"}
#: modules of those packages that are Pydantic only: the CLI generates its training options from them
TORCH_FREE_MODULES = {"medscreen.training.config"}
TORCH_FREE = {"pipelines", "store", "server"}
TORCH_ON_DEMAND = {"inference", "cli"}
#: (importing module, imported package) pairs that run against the flow, and why
EXCEPTIONS = {
    # Training on full fundus photos crops them around the disc found by the deployed ONNX disc
    # stage (inference.classification.task_image), so a classifier is trained on what screening feeds it.
    ("medscreen.training.classification", "inference"),
    # The disc model's checkpoint is chosen by the IoU of the deployed coarse-to-fine disc stage
    # (inference.segmentation.segment_disc), the figure that matters in screening.
    ("medscreen.training.segmentation", "inference"),
}


def _module_name(path: Path) -> str:
    parts = ["medscreen", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> list[tuple[int, str, bool]]:
    """``(line, imported module, inside a function)`` of every import in ``path`` (relative ones resolved)."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_function = {id(node) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                   for node in ast.walk(fn)}
    for node in ast.walk(tree):
        local = id(node) in in_function
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, local) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base == "medscreen":  # `from medscreen import x`: x may be a sub-package or an attribute
                found += [(node.lineno, f"medscreen.{alias.name}", local) for alias in node.names]
            else:
                found.append((node.lineno, base, local))
    return found


def _offences() -> list[str]:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module in FACADES or "migrations" in path.parts:
            continue
        source = module.split(".")[1]
        source = source if source in RANK or source in LEAVES else f"?{source}"
        for line, imported, local in _imports(path, module):
            parts = imported.split(".")
            if parts[0] != "medscreen" or len(parts) < 2 or parts[1] == source or parts[1] == "__version__":
                continue
            target = parts[1]
            if target in LEAVES:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}"
            if source.startswith("?"):
                offences.append(f"{where}: place package {source[1:]!r} in RANK or LEAVES")
            elif source in LEAVES:
                offences.append(f"{where}: {source} is a leaf and imports only leaves")
            elif target not in RANK:
                offences.append(f"{where}: unknown package {target!r}")
            elif RANK[target] >= RANK[source] and (module, target) not in EXCEPTIONS:
                offences.append(f"{where}: {source} may import only packages left of it")
            elif target in TORCH_PACKAGES and source in TORCH_FREE:
                offences.append(f"{where}: {source} runs without PyTorch; {target} needs it")
            elif target in TORCH_PACKAGES and source in TORCH_ON_DEMAND and not local \
                    and imported not in TORCH_FREE_MODULES:
                offences.append(f"{where}: import {target} inside the function that needs it")
    return offences


def test_imports_flow_one_way() -> None:
    offences = _offences()
    assert not offences, "imports against the flow:\n" + "\n".join(offences)


def test_every_exception_is_still_needed() -> None:
    used = set()
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        used |= {(module, imported.split(".")[1]) for _, imported, _ in _imports(path, module)
                 if imported.startswith("medscreen.") and (module, imported.split(".")[1]) in EXCEPTIONS}
    assert used == EXCEPTIONS, f"drop these from EXCEPTIONS: {sorted(EXCEPTIONS - used)}"
