"""What every command shares: the Rich consoles and the error boundary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from medscreen.errors import MedscreenError

__all__ = ["OPTION_NAMES", "console", "err_console", "handle_errors", "setup_logging"]

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`MedscreenError` into a one-line message and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MedscreenError as exc:
            # escaped: a message may hold brackets ('.[postgresql]', '[binary]') that Rich would take for markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except ValidationError as exc:  # a setting out of range or not among the choices
            problems = "; ".join(f"{_option(e['loc'])}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors())
            err_console.print(f"[bold red]error:[/] {escape(problems)}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


#: settings whose command-line option is not the field name with dashes
OPTION_NAMES = {"val_fraction": "--val", "early_stop_patience": "--early-stop", "init_from": "--init"}


def _option(loc: tuple) -> str:
    field = "_".join(str(p) for p in loc)
    return OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


def setup_logging(verbose: bool) -> None:
    """Log to stderr; INFO with ``--verbose``, WARNING otherwise."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
