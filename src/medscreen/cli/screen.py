"""``medscreen screen``: screen fundus photos and breast ultrasound images, one or a batch.

Exit status: 0 when at least one image was screened (files that failed are
reported on stderr, one line each, and skipped); 1 when every file failed; 2
for a usage or model error (nothing given, unknown option value, a model file
missing), as every medscreen command.
"""

from __future__ import annotations

import csv
import glob
from collections import Counter
from pathlib import Path
from typing import Any

import typer

from medscreen.cli._common import console, err_console, handle_errors
from medscreen.errors import ConfigError, ImageReadError

__all__ = ["screen_command", "expand_inputs"]

_GLOB_CHARS = frozenset("*?[")
SAMPLE_NAME = "skimage-retina.png"


def expand_inputs(items: list[str]) -> list[str]:
    """Files to screen, in order: a file as given, a folder's image files (sorted, not recursive), a glob's matches.

    A path that does not exist and is no glob is kept, so that it is reported as a failed file.
    """
    from medscreen.io.images import SUPPORTED_SUFFIXES

    files: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
            files += found or [item]  # an empty folder is reported as a failure of that item
        elif not path.exists() and _GLOB_CHARS & set(item):
            found = sorted(p for p in glob.glob(item, recursive=True) if Path(p).is_file())
            files += found or [item]
        else:
            files.append(item)
    return files


def _parse_models(values: list[str] | None) -> dict[str, Path]:
    models = {}
    for value in values or []:
        task, sep, path = value.partition("=")
        if not sep or not path:
            raise ConfigError(f"--model {value!r}: expected TASK=PATH, e.g. --model glaucoma=my/glaucoma.onnx")
        models[task.strip()] = Path(path)
    return models


def _print_summary(index: int, total: int, output: Any, t: Any) -> None:
    """One image's advice, findings and reasons, in ``t``'s language (a :class:`~medscreen.i18n.Translator`)."""
    from rich.markup import escape

    from medscreen.i18n import N_
    from medscreen.pipelines.report import TERMS, describe_findings, reasons_of
    from medscreen.pipelines.schema import ADVICE_LABEL

    result = output.result
    colour = {"refer": "bold red", "review": "bold magenta", "rescreen": "bold yellow", "routine": "bold green"}[result.advice]
    head = f"[{index}/{total}] " if total > 1 else ""
    gradable = t.gettext(N_("gradable") if result.gradable else N_("not gradable"))
    source = result.source or t.gettext(N_("image"))
    console.print(f"{head}[bold]{escape(source)}[/]: "
                  f"{t.gettext(TERMS.get(result.modality, result.modality))}, {gradable} → "
                  f"[{colour}]{t.gettext(ADVICE_LABEL[result.advice]).upper()}[/]", highlight=False)
    for line in describe_findings(result, t)[1:]:
        console.print(f"    {line}", highlight=False, soft_wrap=True, markup=False)
    for reason in reasons_of(output, t):
        console.print(f"    - {reason}", highlight=False, soft_wrap=True, markup=False)


def _unique_stem(name: str, used: set[str]) -> str:
    stem, n = Path(name).stem, 1
    candidate = stem
    while candidate in used:
        n += 1
        candidate = f"{stem}_{n}"
    used.add(candidate)
    return candidate


@handle_errors
def screen_command(
    images: list[str] | None = typer.Argument(None, help="Image files, folders or globs (quote globs)."),
    sample: bool = typer.Option(False, "--sample", help="Also screen scikit-image's fundus photograph (offline)."),
    modality: str | None = typer.Option(None, "--modality", help="fundus or ultrasound; default: detect it."),
    backend: str = typer.Option("onnxruntime", "--backend", help="onnxruntime (default) or torch (research)."),
    as_json: bool = typer.Option(False, "--json", help="Print each result as one line of JSON (the result schema)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write <name>_overlay.png, <name>_report.pdf "
                                    "and summary.csv (one row per file) here."),
    workers: int = typer.Option(2, "--workers", min=1, help="Threads decoding images ahead of the models."),
    model: list[str] | None = typer.Option(None, "--model", help="TASK=PATH: use this .onnx (card beside it) "
                                           "instead of the bundled model; repeatable."),
    language: str = typer.Option("en", "--language", help="Language of the printed summary and the PDF reports "
                                 "(en, fr); --json and summary.csv stay English."),
) -> None:
    """Screen images: input check, models, advice (refer / review / rescreen / routine) with the reasons.

    A screening aid, not a diagnosis. Exit status 0 when at least one image was
    screened, 1 when every file failed, 2 for a usage or model error.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from medscreen.config import get_settings
    from medscreen.i18n import N_, Message, translator
    from medscreen.pipelines.report import SUMMARY_COLUMNS, save_overlay_png, save_report_pdf, summary_row
    from medscreen.pipelines.schema import ADVICE, ADVICE_LABEL, DISCLAIMER
    from medscreen.pipelines.screening import Screener, read_inputs

    settings = get_settings()
    t = translator(language)  # checks the language before any work
    screener = Screener(backend, models=_parse_models(model), settings=settings)  # checks backend and task names first
    if modality is not None and modality not in ("fundus", "ultrasound"):
        raise ConfigError(f"--modality {modality!r}: choose fundus or ultrasound, or leave it out to detect it")
    items: list[tuple[str, Any]] = [(f, f) for f in expand_inputs(list(images or []))]
    if sample:
        from skimage.data import retina

        items.append((SAMPLE_NAME, retina()))
    if not items:
        raise ConfigError("nothing to screen: give image files, folders or globs, or --sample")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rows, advice, stems = [], Counter(), set()
    progress = Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=len(items) < 2)
    with progress:
        task = progress.add_task("screening", total=len(items))
        for i, (name, future) in enumerate(read_inputs(items, workers=workers, settings=settings), start=1):
            display = Path(name).name
            try:
                output = screener.analyse(future.result(), modality, source=display)
            except ImageReadError as exc:
                err_console.print(f"[bold red]error:[/] {exc}; skipped", highlight=False, soft_wrap=True)
                rows.append(summary_row(name, None, str(exc)))
                progress.advance(task)
                continue
            result = output.result
            advice[result.advice] += 1
            rows.append(summary_row(name, result))
            if as_json:
                typer.echo(result.model_dump_json())
            else:
                _print_summary(i, len(items), output, t)
            if out is not None:
                stem = _unique_stem(display, stems)
                save_overlay_png(out / f"{stem}_overlay.png", output)
                save_report_pdf(out / f"{stem}_report.pdf", output, t)
            progress.advance(task)
    screened = sum(advice.values())
    if out is not None:
        with (out / "summary.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    tally = ", ".join(f"{t.gettext(ADVICE_LABEL[k])} {advice[k]}" for k in ADVICE if advice[k])
    failed = len(items) - screened
    summary_console = err_console if as_json else console
    line = t.render(Message(N_("screened %(screened)s of %(total)s image(s)"), {"screened": screened,
                                                                              "total": len(items)}))
    line += t.render(Message(N_(" (%(failed)s failed)"), {"failed": failed})) if failed else ""
    if tally:
        line = t.render(Message(N_("%(summary)s: %(tally)s"), {"summary": line, "tally": tally}))
    line += t.render(Message(N_("; wrote reports and summary.csv to %(out)s"), {"out": str(out)})) if out else ""
    summary_console.print(line, highlight=False, soft_wrap=True, markup=False)
    summary_console.print(f"[italic]{t.gettext(DISCLAIMER)}[/]", highlight=False, soft_wrap=True)
    if screened == 0:
        raise typer.Exit(code=1)
