"""Where the one template tree is, and the options of the one Jinja environment (the app's),
which renders pages, emails and reports alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent

# Blocks eat their own line, so that plain-text emails and the report read as written.
JINJA_OPTIONS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True}


def template_folder() -> Path:
    """The top-level templates/ (beside survey/) in a checkout or an editable install. A wheel
    carries the same tree inside the package as survey/templates (setup.py puts it there),
    since a directory outside a package is not installed."""
    installed = _PACKAGE / "templates"
    return installed if installed.is_dir() else _PACKAGE.parent / "templates"


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """ "1 person", "3 people", "1,200 invitations": the number with the word that agrees (a
    filter in the templates, `{{ n | counted('person', 'people') }}`)."""
    word = singular if number == 1 else (plural or f"{singular}s")
    return f"{number:,} {word}"


def sentence(message: str) -> str:
    """A refusal's words (services write them as clauses: "cannot launch: …") shown as a
    sentence: a capital first, one full stop at the end."""
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
