"""The language of what xlplan says: Japanese by default, English on request.

One place decides the language (``current_lang``) and one place words counted things in English
(``counted``), so every command, table and message follows the same rule. The language comes from
an explicit argument, else from ``use_lang`` (the CLI sets it for one run without touching the
process environment), else from ``$XLPLAN_LANG``, else Japanese.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from typing import Iterator

LANGUAGES = ("ja", "en")
ENV_VAR = "XLPLAN_LANG"

_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("xlplan_lang", default=None)


def normalise_lang(lang: str | None) -> str | None:
    """'en', 'en_US.UTF-8', 'EN' → 'en'; 'ja…' → 'ja'; anything else (or nothing) → None."""
    text = (lang or "").strip().lower()
    if text.startswith("en"):
        return "en"
    if text.startswith("ja"):
        return "ja"
    return None


def current_lang(lang: str | None = None) -> str:
    """The language for user-facing text: the argument, the one set by ``use_lang``,
    ``$XLPLAN_LANG``, or Japanese."""
    return (normalise_lang(lang) or normalise_lang(_chosen.get())
            or normalise_lang(os.environ.get(ENV_VAR)) or "ja")


@contextlib.contextmanager
def use_lang(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` inside the block (for code below the CLI that has no language argument,
    such as progress labels), without changing the process environment."""
    token = _chosen.set(normalise_lang(lang))
    try:
        yield current_lang()
    finally:
        _chosen.reset(token)


def pick(ja: str, en: str, lang: str | None = None) -> str:
    """The Japanese or the English text, whichever the language is."""
    return en if current_lang(lang) == "en" else ja


# English nouns whose plural is not noun + "s".
_IRREGULAR = {"copy": "copies", "entry": "entries", "directory": "directories",
              "summary": "summaries", "person": "people", "info": "info", "child": "children"}


def plural(noun: str, n: int) -> str:
    """An English noun in the number ``n`` calls for: 1 project, 2 projects, 1 copy, 2 copies.
    For a phrase, the last word changes ('return copy' → 'return copies')."""
    if n == 1:
        return noun
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR:
        word = _IRREGULAR[last]
    elif re.search(r"(s|x|ch|sh)$", last):
        word = last + "es"
    elif re.search(r"[^aeiou]y$", last):
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def counted(n: int, noun: str) -> str:
    """'1 project', '3 projects', '1,540 files': the count and the noun in agreement."""
    return f"{n:,} {plural(noun, n)}"


_LANG_OPTION = re.compile(r"^--l(?:a(?:n(?:g)?)?)?(?:=(.*))?$")


def lang_from_argv(argv: list[str]) -> str | None:
    """The language named by ``--lang X`` / ``--lang=X`` anywhere in a command line (argparse's
    abbreviations --l, --la, --lan too), so the parser and its help can be built in it before
    parsing. The last one given wins; None when there is none."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        match = _LANG_OPTION.match(arg)
        if not match:
            continue
        value = match.group(1) if match.group(1) is not None else (
            argv[i + 1] if i + 1 < len(argv) else None)
        found = normalise_lang(value) or found
    return found


def ordinal(n: int) -> str:
    """An English ordinal for counts in messages: 1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
