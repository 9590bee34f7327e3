"""Messages, numbers and the shipped catalogues: French is complete and matches the code's English texts."""

from __future__ import annotations

import re
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from medscreen.errors import ConfigError
from medscreen.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    Joined,
    Message,
    Number,
    english,
    negotiate_language,
    parse_language,
    translator,
)

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")


def _catalogue(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


def _source_msgids() -> set[str | tuple[str, ...]]:
    """What ``pybabel extract -F babel.cfg`` finds in the code and templates today."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    return {message for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map)}


def test_english_renders_exactly_as_python_formats():
    message = Message("glaucoma probability %(p)s is at or above %(t)s: %(why)s (%(share)s %% of it)", {
        "p": Number(0.7561), "t": Number(0.44), "share": Number(12.345, ".1f"),
        "why": Joined((Message("only %(v)s is red", {"v": Number(0.755, ".0%")}), Message("too dark")))})
    assert str(message) == "glaucoma probability 0.76 is at or above 0.44: only 76% is red; too dark (12.3 % of it)"


def test_french_numbers_and_separators():
    fr = translator("fr")
    assert fr.number(0.7561) == "0,76"
    assert fr.number(0.755, ".0%") == "76\u00a0%"
    assert fr.number(1234.0, ".0f") == "1234"
    assert fr.render(Joined((Message("it has many different colours"), Message("it has many different colours")))) \
        == "elle contient de nombreuses couleurs différentes\u00a0; elle contient de nombreuses couleurs différentes"


def test_messages_survive_json_and_refuse_bad_data():
    message = Message("%(why)s: refer urgently to a breast specialist for assessment and biopsy", {
        "why": Message("the image looks malignant (probability %(probability)s)", {"probability": Number(0.7)}),
        "n": 3, "parts": Joined((Message("yes"),), "; ")})
    assert Message.from_json(message.to_json()) == message
    with pytest.raises(ValueError, match="msgid"):
        Message.from_json({"params": {}})
    with pytest.raises(ValueError, match="text or a whole number"):
        Message.from_json({"msgid": "x %(a)s", "params": {"a": [1]}})
    with pytest.raises(ValueError, match="spec"):
        Number(0.5, "5d")


def test_language_choice():
    assert parse_language("FR") == parse_language("fr-CA") == "fr"
    with pytest.raises(ConfigError, match="did you mean 'fr'"):
        parse_language("fre")
    assert negotiate_language("de-DE,fr;q=0.8,en;q=0.5") == "fr"
    assert negotiate_language("en-GB,en;q=0.9,fr;q=0.8") == "en"
    assert negotiate_language("fr;q=0, de") is None  # q=0 means "not this one"
    assert negotiate_language(None) is None and negotiate_language("q=;;,") is None
    assert translator(None) is english() and translator("en") is english()


def test_french_catalogue_is_complete_and_its_placeholders_match():
    catalogue = _catalogue("fr")
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
        expected = sorted(PLACEHOLDER.findall(ids[-1]))
        problems += [f"placeholders differ: {ids[0]!r} → {s!r}" for s in strings if sorted(PLACEHOLDER.findall(s)) != expected]
    assert not problems, "\n".join(problems)


def test_every_text_of_the_code_is_in_the_french_catalogue():
    """A new English text without its translation fails here: run the README's pybabel extract/update, translate."""
    in_code = _source_msgids()
    in_catalogue = {m.id for m in _catalogue("fr") if m.id}
    assert len(in_code) > 300  # the extraction found the templates and the Python texts
    missing = sorted(map(str, in_code - in_catalogue))
    obsolete = sorted(map(str, in_catalogue - in_code))
    assert not missing, "texts without a French translation (pybabel extract + update, then translate):\n" + \
        "\n".join(missing)
    assert not obsolete, "translations of texts the code no longer has (pybabel update drops them):\n" + \
        "\n".join(obsolete)


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_compiled_catalogue_matches_its_po(language):
    """The committed .mo is what `pybabel compile` makes of the .po (so an installed wheel needs no build step)."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        compiled = GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    expected = {}
    for message in _catalogue(language):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            expected.update({(message.id[0], i): s for i, s in enumerate(message.string)})
        else:
            expected[message.id] = message.string
    compiled.pop("", None)  # the header
    assert compiled == expected, "run: pybabel compile -d src/medscreen/locale"


def test_a_missing_catalogue_is_named(monkeypatch, tmp_path):
    from medscreen import i18n

    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    translator.cache_clear()
    try:
        with pytest.raises(ConfigError, match="pybabel compile"):
            translator("fr")
    finally:
        monkeypatch.undo()
        translator.cache_clear()
