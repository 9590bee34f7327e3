"""Jinja2 templates (autoescaped, translated) and the context every page gets: the user, the CSRF token, ``can``.

Each shipped language has its own Jinja2 environment with ``jinja2.ext.i18n``
and that language's gettext catalogue installed (:func:`medscreen.i18n.translator`),
so a page is rendered whole in one language and no request changes another's
environment. The language of a page (:func:`page_language`): the signed-in
user's, else the server's ``language`` setting, else the browser's
``Accept-Language`` when it names a shipped language, else English.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from medscreen.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    N_,
    Message,
    Translator,
    negotiate_language,
    translator,
)
from medscreen.pipelines.report import TERMS as FINDING_TERMS
from medscreen.pipelines.schema import ADVICE_LABEL, DISCLAIMER
from medscreen.server.security import csrf_token
from medscreen.store.users import can

__all__ = ["TERMS", "page_language", "page_translator", "render", "templates", "term"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

#: the machine words pages show (findings, sexes, roles, review decisions, queue filters, statuses, eyes)
TERMS: dict[str, str] = {
    **FINDING_TERMS,
    "female": N_("female"), "male": N_("male"), "other": N_("other"),
    "health_worker": N_("health worker"), "reviewer": N_("reviewer"), "admin": N_("admin"),
    "confirm": N_("confirm"), "correct": N_("correct"),
    "urgent": N_("urgent"), "refer": N_("refer"), "review": N_("review"), "rescreen": N_("rescreen"),
    "rejected": N_("rejected"), "pending": N_("pending"), "running": N_("running"), "done": N_("done"),
    "failed": N_("failed"), "OD": N_("OD"), "OS": N_("OS"),
}


def term(word: str) -> Message | str:
    """A machine word as a translatable message (a word not in :data:`TERMS` is shown as it is)."""
    return Message(TERMS[word]) if word in TERMS else word


@lru_cache(maxsize=len(LANGUAGES))
def templates(language: str = DEFAULT_LANGUAGE) -> Jinja2Templates:
    """The templates of one language (built once per language).

    Filters: ``num`` formats a number for the language (``spec`` ``.2f``, ``.0%``…), ``advice`` names an
    advice code (``refer``…) in it, ``tr`` renders a :class:`~medscreen.i18n.Message` or translates a msgid.
    """
    t = translator(language)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"])
    env.policies["ext.i18n.trimmed"] = True  # msgids without the templates' line breaks and indentation
    env.install_gettext_translations(t.translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["num"] = lambda value, spec=".2f": t.number(float(value), spec)
    env.filters["advice"] = lambda code: t.gettext(ADVICE_LABEL.get(code, code)) if code else code
    env.filters["tr"] = t.render
    env.filters["term"] = lambda word: t.render(term(word)) if word else word
    env.globals.update(language=t.language, languages=LANGUAGES)
    return Jinja2Templates(env=env)


def page_language(request: Request, user: Any = None) -> str:
    """The language to show this request's page in (see the module docstring)."""
    chosen = getattr(user, "language", None) or getattr(request.state, "user_language", None)
    if chosen in LANGUAGES:
        return chosen
    settings = getattr(request.app.state, "settings", None)
    default = settings.server.language if settings is not None else None
    return default or negotiate_language(request.headers.get("accept-language")) or DEFAULT_LANGUAGE


def page_translator(request: Request, user: Any = None) -> Translator:
    """The :class:`~medscreen.i18n.Translator` of :func:`page_language` (for PDFs and messages)."""
    return translator(page_language(request, user))


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           user: Any = None, headers: dict[str, str] | None = None) -> Response:
    """Render a page in the reader's language with the user, their ``can`` check, the CSRF token and the disclaimer.

    A ``message`` in ``context`` (a msgid or a :class:`~medscreen.i18n.Message`) is translated; other text is
    shown as given (the store's error messages are English).
    """
    language = page_language(request, user)
    t = translator(language)
    ctx: dict[str, Any] = {"user": user, "csrf_token": csrf_token(request), "disclaimer": t.gettext(DISCLAIMER),
                           "can": lambda action, obj=None: can(user, action, obj), "message": None,
                           "message_lang": None}
    ctx.update(context or {})
    if isinstance(ctx["message"], str | Message):
        shown = t.render(ctx["message"])
        if shown == ctx["message"] and language != DEFAULT_LANGUAGE:  # no translation: an English store message
            ctx["message_lang"] = DEFAULT_LANGUAGE
        ctx["message"] = shown
    headers = {"Content-Language": language, **(headers or {})}
    return templates(language).TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
