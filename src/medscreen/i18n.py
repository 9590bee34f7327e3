"""Languages: gettext catalogues (Babel) for the clinic app, the PDFs and the advice reasons.

Every text a person reads is an English gettext msgid with ``%(name)s``
placeholders, marked for ``pybabel extract`` (``_()``/``{% trans %}`` in the
templates, :func:`N_` in Python). The French catalogue is
``medscreen/locale/fr/LC_MESSAGES/messages.po`` with its compiled ``.mo``
beside it (committed, so an installed wheel needs no build step; a test checks
that the ``.mo`` matches the ``.po``).

The screening pipeline builds its reasons as :class:`Message` objects — a
msgid and its parameters, numbers kept as numbers — and stores their English
rendering in the result (the result schema and ``screen --json`` are English
and do not change). A page or PDF renders the same :class:`Message` in its
reader's language with :meth:`Translator.render`: numbers are formatted for
the language (``0,76`` and ``76 %`` in French).

A leaf module: it imports nothing of medscreen but :mod:`medscreen.errors`, and
Babel only when a catalogue is loaded.
"""

from __future__ import annotations

import gettext as _gettext
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

from medscreen.errors import ConfigError, did_you_mean

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "SEPARATOR",
    "Joined",
    "Message",
    "Number",
    "Translator",
    "english",
    "negotiate_language",
    "parse_language",
    "parse_optional_language",
    "translator",
]

#: the languages shipped, by code, with their own names (for the language menus)
LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français"}
#: the language of the msgids, and of everything machine-readable
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def N_(msgid: str) -> str:
    """Mark ``msgid`` for ``pybabel extract`` and return it unchanged (it is translated when shown)."""
    return msgid


#: what joins reasons in one line (French puts a narrow space before the semicolon)
SEPARATOR = N_("; ")


@dataclass(frozen=True)
class Number:
    """A number in a message, formatted for the reader's language.

    ``spec`` is a Python format spec, ``.Nf`` (fixed decimals) or ``.N%`` (a
    share shown as a percentage), or empty (every digit, as Python prints the
    number): English gives exactly ``format(value, spec)``.
    """

    value: float
    spec: str = ".2f"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"(\.\d[f%])?", self.spec):
            raise ValueError(f"number spec {self.spec!r} is not '.Nf', '.N%' or ''")


@dataclass(frozen=True)
class Message:
    """A msgid and its parameters: a str, an int, a :class:`Number`, or another :class:`Message` or :class:`Joined`."""

    msgid: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __str__(self) -> str:
        return english().render(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (see :meth:`from_json`)."""
        return {"msgid": self.msgid, "params": {k: _param_json(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """The message :meth:`to_json` wrote.

        Raises:
            ValueError: ``data`` is not such a dict.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("msgid"), str):
            raise ValueError(f"a stored message needs a 'msgid' string, got {data!r}")  # noqa: TRY004 - stored data
        return cls(data["msgid"], {k: _param_from_json(v) for k, v in (data.get("params") or {}).items()})


@dataclass(frozen=True)
class Joined:
    """Messages joined by a separator that is itself translated (French puts a space before ``;``)."""

    parts: tuple[Message, ...]
    separator: str = SEPARATOR


Param = Union[str, int, Number, Message, Joined]  # noqa: UP007 - a runtime alias, used before PEP 604 unions of classes


def _param_json(value: Param) -> Any:
    if isinstance(value, Message):
        return value.to_json()
    if isinstance(value, Joined):
        return {"join": [p.to_json() for p in value.parts], "separator": value.separator}
    if isinstance(value, Number):
        return {"number": value.value, "spec": value.spec}
    return value


def _param_from_json(value: Any) -> Param:
    if isinstance(value, Mapping):
        if "msgid" in value:
            return Message.from_json(value)
        if "join" in value:
            return Joined(tuple(Message.from_json(p) for p in value["join"]), value.get("separator", "; "))
        if "number" in value:
            return Number(float(value["number"]), value.get("spec", ".2f"))
        raise ValueError(f"a stored message parameter must be a message, a join or a number, got {value!r}")
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise ValueError(f"a stored message parameter must be text or a whole number, got {value!r}")


class Translator:
    """One language's gettext, plural forms and number formatting.

    Args:
        language: a code of :data:`LANGUAGES`.
        translations: its gettext catalogue (English: :class:`gettext.NullTranslations`).
        number: ``(value, spec) -> text`` for :class:`Number`.
    """

    def __init__(self, language: str, translations: _gettext.NullTranslations,
                 number: Callable[[float, str], str]) -> None:
        self.language = language
        self.translations = translations
        self._number = number

    def gettext(self, msgid: str) -> str:
        return self.translations.gettext(msgid)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def number(self, value: float, spec: str = ".2f") -> str:
        """``value`` as this language writes it (``spec``: ``.Nf``, ``.N%`` or empty, see :class:`Number`)."""
        return self._number(value, spec)

    def render(self, message: Message | Joined | str) -> str:
        """The message in this language (a plain string is translated if it is a msgid, else kept)."""
        if isinstance(message, str):
            return self.gettext(message) if message else message
        if isinstance(message, Joined):
            return str(self._value(message))
        values = {name: self._value(v) for name, v in message.params.items()}
        text = self.gettext(message.msgid)
        return text % values if values else text

    def _value(self, value: Param) -> str | int:
        if isinstance(value, Number):
            return self.number(value.value, value.spec)
        if isinstance(value, Message):
            return self.render(value)
        if isinstance(value, Joined):
            return self.gettext(value.separator).join(self.render(p) for p in value.parts)
        return value


def _python_number(value: float, spec: str) -> str:
    return format(value, spec)


@lru_cache(maxsize=1)
def english() -> Translator:
    """English, the msgids themselves: numbers exactly as Python formats them (what the result schema holds)."""
    return Translator(DEFAULT_LANGUAGE, _gettext.NullTranslations(), _python_number)


def parse_language(value: str, what: str = "language") -> str:
    """A code of :data:`LANGUAGES` from ``fr``, ``FR``, ``fr-FR`` or ``fr_CA``.

    Raises:
        ConfigError: not a shipped language; names the choices and the closest one.
    """
    code = re.split(r"[-_]", str(value).strip().lower(), maxsplit=1)[0]
    if code in LANGUAGES:
        return code
    raise ConfigError(f"{what} {value!r} is not one of the languages shipped ({', '.join(LANGUAGES)})"
                      + did_you_mean(code, LANGUAGES))


def parse_optional_language(value: str | None, what: str = "language") -> str | None:
    """:func:`parse_language`, or None for None or a blank value (a setting left to its default).

    Raises:
        ConfigError: not a shipped language.
    """
    return None if value is None or not value.strip() else parse_language(value, what)


def negotiate_language(accept_language: str | None) -> str | None:
    """The shipped language a browser's ``Accept-Language`` header prefers most, or None.

    Written by hand because the header is a short comma list of ``tag;q=weight``
    and the web stack installed parses none for us; Babel only matches tags.
    """
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        if q > 0 and code in LANGUAGES:
            ranked.append((-q, i, code))
    return min(ranked)[2] if ranked else None


def _catalogue(language: str) -> _gettext.NullTranslations:
    from babel.support import Translations

    mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.is_file():
        raise ConfigError(f"the {LANGUAGES[language]} catalogue {mo} is missing; reinstall medscreen, or in a "
                          f"checkout run 'pybabel compile -d src/medscreen/locale'")
    with mo.open("rb") as fp:
        return Translations(fp, domain=DOMAIN)


def _babel_number(language: str) -> Callable[[float, str], str]:
    from babel import Locale
    from babel.numbers import format_decimal, format_percent

    locale = Locale.parse(language)

    def number(value: float, spec: str) -> str:
        if not spec:
            return format_decimal(value, "0.##########", locale=locale)
        digits = int(spec[1])
        decimals = "0." + "0" * digits if digits else "0"
        if spec.endswith("%"):
            pattern = locale.percent_formats[None].pattern.replace("0", decimals, 1)
            return format_percent(value, pattern, locale=locale)
        return format_decimal(value, decimals, locale=locale)

    return number


@lru_cache(maxsize=len(LANGUAGES))
def translator(language: str | None = None) -> Translator:
    """The :class:`Translator` of ``language`` (None or ``en``: English), its catalogue loaded once.

    Raises:
        ConfigError: not a shipped language, or its compiled catalogue is missing.
    """
    code = parse_language(language) if language else DEFAULT_LANGUAGE
    if code == DEFAULT_LANGUAGE:
        return english()
    return Translator(code, _catalogue(code), _babel_number(code))
