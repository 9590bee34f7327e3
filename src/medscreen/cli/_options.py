"""Command options generated from a training config, so that each default and choice lives in one place.

:func:`config_options` decorates a Typer command: it adds one option per field
of a Pydantic config (``input_size`` → ``--input-size``; the historical names
``--val``, ``--early-stop`` and ``--init`` are kept), plus ``--config FILE``
(JSON or YAML, e.g. a run's ``config.json``) and ``--set key=value``
(repeatable). The command receives ``overrides``, a :class:`ConfigValues`;
``overrides.build(task)`` merges, each over the one before, the config's
defaults, the file, the options given and the ``--set`` values, then lets the
config validate the result. Typer reads a command's options from its
signature, so the signature is generated here.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from medscreen.cli._common import OPTION_NAMES
from medscreen.errors import ConfigError, did_you_mean

__all__ = ["ConfigValues", "config_options", "read_config_file"]

#: boolean options whose negative form is a word of its own (``--crops`` as in ``medscreen evaluate``)
_NEGATIVE = {"full_photos": "--crops"}
#: defaults the command line takes from elsewhere than the config
_SHOWN_DEFAULT = {"seed": "MEDSCREEN_SEED, else 42", "num_workers": "MEDSCREEN_NUM_WORKERS, else 0"}


@dataclass(frozen=True)
class ConfigValues:
    """The settings a command was given: a config file, options, ``--set key=value`` pairs."""

    model: type[BaseModel]
    file: Path | None = None
    options: Mapping[str, Any] | None = None
    sets: tuple[str, ...] = ()

    def build(self, task: str, **defaults: Any) -> Any:
        """The validated config for ``task``: ``defaults``, then the file, the options and ``--set``, each winning.

        Raises:
            ConfigError: unreadable file, unknown key (with the closest name), or a config of another task.
            pydantic.ValidationError: a value out of range or not among the choices.
        """
        from medscreen.config import get_settings

        settings = get_settings()
        values: dict[str, Any] = {"seed": settings.seed, "num_workers": settings.num_workers, **defaults}
        if self.file is not None:
            values |= _known(self.model, read_config_file(self.file), str(self.file))
        values |= dict(self.options or {})
        values |= _known(self.model, dict(_parse_set(item) for item in self.sets), "--set")
        if values.setdefault("task", task) != task:
            raise ConfigError(f"the settings are for {values['task']!r}, this command trains {task!r}; "
                              f"run it for {values['task']} or remove the task from the config")
        return self.model(**values)


def read_config_file(path: Path) -> dict[str, Any]:
    """A config's settings from a JSON (``.json``) or YAML (``.yaml``/``.yml``) file holding one mapping.

    Raises:
        ConfigError: missing file, unreadable content, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file; give a JSON or YAML config, e.g. a run's config.json")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"--config {path}: reading YAML needs PyYAML (pip install pyyaml); "
                              "or give the config as JSON") from None
        parse, errors, what = yaml.safe_load, yaml.YAMLError, "YAML"
    else:
        parse, errors, what = json.loads, ValueError, "JSON"
    try:
        values = parse(path.read_text())
    except errors as exc:
        raise ConfigError(f"--config {path}: not valid {what} ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--config {path}: expected a mapping of settings (key: value), got {type(values).__name__}")
    return values


def _parse_set(item: str) -> tuple[str, Any]:
    """``key=value`` → (``key`` with dashes as underscores, value); ``null``/``none`` is None, the rest a
    string the config converts (``32``, ``1e-3``, ``true``)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: give key=value, e.g. --set epochs=20")
    return key.strip().replace("-", "_"), None if value.strip().lower() in ("null", "none") else value.strip()


def _known(model: type[BaseModel], values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` if every key is a field of ``model``.

    Raises:
        ConfigError: an unknown key, with the closest field name and the list of fields.
    """
    fields = list(model.model_fields)
    for key in values:
        if key not in model.model_fields:
            raise ConfigError(f"{source}: unknown setting {key!r}.{did_you_mean(key, fields, sentence=True)} "
                              f"Settings: {', '.join(fields)}")
    return dict(values)


def config_options(model: type[BaseModel], *, only: Iterable[str] | None = None, files: bool = True,
                   prefix: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add an option per field of ``model`` (all but ``task``, or ``only`` these) to a Typer command.

    Args:
        model: the Pydantic config whose fields, defaults, descriptions and choices the options show.
        only: the fields to offer (default: all).
        files: also add ``--config FILE`` and ``--set key=value``.
        prefix: put before each generated option's help (e.g. ``"--cv: "``).

    The decorated function takes a keyword argument ``overrides`` (:class:`ConfigValues`).
    """
    names = [n for n in model.model_fields if n != "task" and (only is None or n in set(only))]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(func)
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(func).parameters.values() if p.name != "overrides"]
        added = [_parameter(n, model.model_fields[n], prefix) for n in names]
        if files:
            added += [
                inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
                                  default=typer.Option(None, "--config", help=(
                                      "Settings from a JSON or YAML file (e.g. a run's config.json); "
                                      "options and --set override them."))),
                inspect.Parameter("set_values", inspect.Parameter.KEYWORD_ONLY, annotation=list[str] | None,
                                  default=typer.Option(None, "--set", help=(
                                      "key=value: any setting of the config by its field name "
                                      "(repeatable; wins over the options)."))),
            ]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in names}
            overrides = ConfigValues(model, kwargs.pop("config_file", None),
                                     {n: v for n, v in given.items() if v is not None},
                                     tuple(kwargs.pop("set_values", None) or ()))
            return func(*args, overrides=overrides, **kwargs)

        params = [*own, *added]
        del command.__wrapped__  # Typer must read the generated signature, not the function's own
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


def _parameter(name: str, field: FieldInfo, prefix: str) -> inspect.Parameter:
    """A keyword-only Typer option for one config field, default None (= not given)."""
    annotation = field.annotation
    if get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    choices = get_args(annotation) if get_origin(annotation) is Literal else ()
    kind = str if choices else annotation
    flag = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
    decl = f"{flag}/{_NEGATIVE.get(name, '--no-' + flag[2:])}" if kind is bool else flag
    help_text = prefix + (field.description or name.replace("_", " ").capitalize() + ".")
    if choices:
        help_text += " " + " | ".join(map(str, choices))
    shown: str | bool = str(_SHOWN_DEFAULT.get(name, field.default)) if field.default is not None else False
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind | None,
                             default=typer.Option(None, decl, help=help_text, show_default=shown))
