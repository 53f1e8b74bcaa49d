"""Self-review frameworks as data: the model, the loader and the built-in framework files.

A framework is a YAML file (see ``framework/README.md``); :func:`load_path` / :func:`load_text`
validate it and return an immutable :class:`Framework`. A review cycle pins
``Framework.source_text`` (and ``Framework.version``) so it can be re-loaded unchanged later.
"""

from .loader import builtin_keys, builtin_path, load_builtin, load_path, load_text
from .model import (
    DONT_KNOW,
    Element,
    Framework,
    FrameworkError,
    Heading,
    Question,
    Scale,
    ScaleLevel,
    Scope,
    TimeEstimate,
    parse_scope,
)

__all__ = [
    "DONT_KNOW",
    "Element",
    "Framework",
    "FrameworkError",
    "Heading",
    "Question",
    "Scale",
    "ScaleLevel",
    "Scope",
    "TimeEstimate",
    "builtin_keys",
    "builtin_path",
    "load_builtin",
    "load_path",
    "load_text",
    "parse_scope",
]
