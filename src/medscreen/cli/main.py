"""The ``medscreen`` command: thin Typer sub-apps over the importable API."""

from __future__ import annotations

import typer

from medscreen import __version__
from medscreen.cli._common import setup_logging
from medscreen.cli.clinic import backup_command, doctor_command, init_command, restore_command, tls_app
from medscreen.cli.cv import cv_app
from medscreen.cli.data import data_app
from medscreen.cli.evaluate import evaluate_app
from medscreen.cli.export import export_app
from medscreen.cli.screen import screen_command
from medscreen.cli.server import export_labels_command, serve_command, users_app
from medscreen.cli.train import train_app
from medscreen.cli.weights import export_torch_weights

__all__ = ["app"]

app = typer.Typer(
    name="medscreen",
    help="Screen retinal fundus photos (glaucoma) and breast ultrasound images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(cv_app, name="cv")
app.add_typer(export_app, name="export")
app.command("screen")(screen_command)
app.command("init")(init_command)
app.command("serve")(serve_command)
app.command("doctor")(doctor_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(tls_app, name="tls")
app.add_typer(users_app, name="users")
app.command("export-labels")(export_labels_command)
export_app.command("torch-weights")(export_torch_weights)  # kept beside screen's torch backend, not in export.py


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medscreen {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    setup_logging(verbose)


if __name__ == "__main__":  # pragma: no cover
    app()
