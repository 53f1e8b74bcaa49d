"""Load and validate framework files.

The YAML is composed into a node tree (not constructed into Python objects) so that every
complaint can name the file, the line and the key path of the offending value. Anything wrong
with the input, whatever it is, comes out as one :class:`FrameworkError`.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import pathlib
import re
from typing import NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .model import (
    CODE_RE,
    DONT_KNOW,
    MAX_CODE_LENGTH,
    MAX_KEY_LENGTH,
    MAX_SCALE_KEY_LENGTH,
    MAX_TITLE_LENGTH,
    RESERVED_CODES,
    STAGES,
    Element,
    Framework,
    FrameworkError,
    FrozenMap,
    Heading,
    Question,
    Scale,
    ScaleLevel,
    show,
)

BUILTIN_DIR = pathlib.Path(__file__).resolve().parent
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_BOOL = "tag:yaml.org,2002:bool"

# Fields of each mapping in the file: name -> required?
_TOP_FIELDS = {
    "key": True,
    "title": True,
    "source": False,
    "attribution": False,
    "introduction": False,
    "scale": True,
    "headings": True,
    "elements": True,
}
_SCALE_FIELDS = {"levels": True, "explanation": False}
_LEVEL_FIELDS = {"key": True, "label": True, "score": True, "meaning": False}
_HEADING_FIELDS = {"number": True, "title": True}
_ELEMENT_FIELDS = {
    "code": True,
    "heading": True,
    "title": True,
    "focus": False,
    "questions": True,
    "descriptors": False,
}
_QUESTION_FIELDS = {"number": True, "stage": True, "text": True, "descriptors": False}


def version_of(text: str) -> str:
    """The version of a framework text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _join(path: str, name: str) -> str:
    """The key path of field ``name`` inside ``path`` (odd names are quoted and shortened)."""
    segment = name if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name) else show(name, 40)
    return segment if path == "document" else f"{path}.{segment}"


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        if node.tag == _TAG_NULL:
            return "nothing (null)"
        if node.tag == _TAG_INT:
            return f"the number {node.value}"
        if node.tag == _TAG_FLOAT:
            return f"the number {node.value}"
        if node.tag == _TAG_BOOL:
            return f"the true/false value {node.value}"
        return "text"
    return "an unexpected value"


class _Checker:
    """Walks the composed YAML node tree and builds the model, failing on the first problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Node | None, path: str, reason: str) -> NoReturn:
        line = None
        if node is not None and node.start_mark is not None:
            line = node.start_mark.line + 1
        raise FrameworkError(reason, source=self.source, line=line, path=path)

    # -- generic shapes ------------------------------------------------------------------------

    def mapping(self, node: Node, path: str, fields: dict[str, bool]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            self.fail(node, path, f"expected a mapping of fields, got {_describe(node)}")
        found: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _TAG_NULL:
                self.fail(key_node, path, f"field names must be text, got {_describe(key_node)}")
            name = str(key_node.value)
            child = _join(path, name)
            if name in found:
                self.fail(key_node, child, "field given twice")
            if name not in fields:
                hint = difflib.get_close_matches(name, list(fields), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                allowed = ", ".join(fields)
                self.fail(key_node, child, f"unknown field{suggestion}; allowed fields: {allowed}")
            found[name] = value_node
        for name, required in fields.items():
            if required and name not in found:
                child = _join(path, name)
                self.fail(node, child, "required field is missing")
        return found

    def sequence(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, path, f"expected a list, got {_describe(node)}")
        return list(node.value)

    def text(
        self, node: Node, path: str, *, allow_empty: bool = False, max_length: int | None = None
    ) -> str:
        if not isinstance(node, ScalarNode):
            self.fail(node, path, f"expected text, got {_describe(node)}")
        value = "" if node.tag == _TAG_NULL else str(node.value).strip()
        if not value and not allow_empty:
            self.fail(node, path, "must not be empty")
        if max_length is not None and len(value) > max_length:
            self.fail(
                node, path, f"must be {max_length} characters or fewer (it has {len(value):,})"
            )
        return value

    def integer(self, node: Node, path: str, *, minimum: int) -> int:
        if (
            not isinstance(node, ScalarNode)
            or node.tag != _TAG_INT
            or not re.fullmatch(r"[-+]?[0-9]+", str(node.value))
        ):
            self.fail(node, path, f"expected a whole number, got {_describe(node)}")
        value = int(str(node.value))
        if value < minimum:
            self.fail(node, path, f"must be at least {minimum}, got {value}")
        return value

    def optional_text(self, fields: dict[str, Node], name: str, path: str) -> str:
        node = fields.get(name)
        if node is None:
            return ""
        return self.text(node, path, allow_empty=True)

    # -- the document --------------------------------------------------------------------------

    def document(self, root: Node | None, text: str) -> Framework:
        if root is None:
            raise FrameworkError("the document is empty", source=self.source, path="document")
        fields = self.mapping(root, "document", _TOP_FIELDS)
        key = self.text(fields["key"], "key", max_length=MAX_KEY_LENGTH)
        if not SLUG_RE.fullmatch(key):
            self.fail(
                fields["key"],
                "key",
                f"{show(key)} is not a slug (lower-case letters, digits and single hyphens, "
                "e.g. my-trust-framework)",
            )
        title = self.text(fields["title"], "title", max_length=MAX_TITLE_LENGTH)
        source = self.optional_text(fields, "source", "source")
        attribution = self.optional_text(fields, "attribution", "attribution")
        introduction = self.optional_text(fields, "introduction", "introduction")
        scale = self.scale(fields["scale"], "scale")
        heading_list = self.headings(fields["headings"], "headings")
        elements = self.elements(fields["elements"], "elements", scale, heading_list)

        headings: list[Heading] = []
        for number, title_text, node, path in heading_list:
            mine = tuple(e for e in elements if e.heading == number)
            if not mine:
                self.fail(node, path, f"heading {number} has no elements")
            headings.append(Heading(number=number, title=title_text, elements=mine))
        return Framework(
            key=key,
            title=title,
            version=version_of(text),
            source_text=text,
            introduction=introduction,
            attribution=attribution,
            source=source,
            scale=scale,
            headings=tuple(headings),
        )

    def scale(self, node: Node, path: str) -> Scale:
        fields = self.mapping(node, path, _SCALE_FIELDS)
        explanation = self.optional_text(fields, "explanation", f"{path}.explanation")
        level_nodes = self.sequence(fields["levels"], f"{path}.levels")
        if len(level_nodes) < 2:
            self.fail(fields["levels"], f"{path}.levels", "a scale needs at least two levels")
        levels: list[ScaleLevel] = []
        seen: set[str] = set()
        for index, level_node in enumerate(level_nodes):
            lpath = f"{path}.levels[{index}]"
            lf = self.mapping(level_node, lpath, _LEVEL_FIELDS)
            key = self.text(lf["key"], f"{lpath}.key", max_length=MAX_SCALE_KEY_LENGTH)
            if key == DONT_KNOW:
                self.fail(
                    lf["key"],
                    f"{lpath}.key",
                    f"{DONT_KNOW!r} is added to every scale automatically; do not list it",
                )
            if not SLUG_RE.fullmatch(key):
                self.fail(
                    lf["key"],
                    f"{lpath}.key",
                    f"{show(key)} is not a slug (lower-case letters, digits and single hyphens)",
                )
            if key in seen:
                self.fail(lf["key"], f"{lpath}.key", f"duplicate scale key {show(key)}")
            seen.add(key)
            label = self.text(lf["label"], f"{lpath}.label")
            score = self.integer(lf["score"], f"{lpath}.score", minimum=1)
            if score != index + 1:
                self.fail(
                    lf["score"],
                    f"{lpath}.score",
                    f"scores must run 1, 2, 3, ... in order from weakest to strongest; "
                    f"expected {index + 1}, got {score}",
                )
            meaning = self.optional_text(lf, "meaning", f"{lpath}.meaning")
            levels.append(ScaleLevel(key=key, label=label, score=score, meaning=meaning))
        return Scale(levels=tuple(levels), explanation=explanation)

    def headings(self, node: Node, path: str) -> list[tuple[int, str, Node, str]]:
        items = self.sequence(node, path)
        if not items:
            self.fail(node, path, "there must be at least one heading")
        result: list[tuple[int, str, Node, str]] = []
        seen: set[int] = set()
        for index, item in enumerate(items):
            hpath = f"{path}[{index}]"
            hf = self.mapping(item, hpath, _HEADING_FIELDS)
            number = self.integer(hf["number"], f"{hpath}.number", minimum=0)
            if number in seen:
                self.fail(hf["number"], f"{hpath}.number", f"duplicate heading number {number}")
            seen.add(number)
            title = self.text(hf["title"], f"{hpath}.title")
            result.append((number, title, item, hpath))
        return result

    def descriptors(self, node: Node, path: str, scale: Scale) -> FrozenMap:
        if not isinstance(node, MappingNode):
            self.fail(node, path, f"expected a mapping of scale key to text, got {_describe(node)}")
        found: dict[str, str] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _TAG_NULL:
                self.fail(key_node, path, f"scale keys must be text, got {_describe(key_node)}")
            key = str(key_node.value)
            child = _join(path, key)
            if key == DONT_KNOW:
                self.fail(key_node, child, f"{DONT_KNOW!r} cannot have a descriptor")
            if key not in scale.keys:
                self.fail(
                    key_node,
                    child,
                    f"{show(key)} is not a key of the scale ({', '.join(scale.keys)})",
                )
            if key in found:
                self.fail(key_node, child, "descriptor given twice")
            found[key] = self.text(value_node, child)
        # Keep scale order whatever order the file used.
        return FrozenMap((k, found[k]) for k in scale.keys if k in found)

    def elements(
        self,
        node: Node,
        path: str,
        scale: Scale,
        headings: list[tuple[int, str, Node, str]],
    ) -> list[Element]:
        items = self.sequence(node, path)
        if not items:
            self.fail(node, path, "there must be at least one element")
        heading_numbers = [h[0] for h in headings]
        result: list[Element] = []
        codes: set[str] = set()
        for index, item in enumerate(items):
            epath = f"{path}[{index}]"
            ef = self.mapping(item, epath, _ELEMENT_FIELDS)
            code = self.text(ef["code"], f"{epath}.code", max_length=MAX_CODE_LENGTH)
            if not CODE_RE.fullmatch(code):
                self.fail(
                    ef["code"],
                    f"{epath}.code",
                    f"{show(code)} is not an element code (upper-case letters, digits and '-', "
                    "e.g. 1A)",
                )
            if code in RESERVED_CODES:
                self.fail(ef["code"], f"{epath}.code", f"{show(code)} is reserved for scopes")
            if code in codes:
                self.fail(ef["code"], f"{epath}.code", f"duplicate element code {show(code)}")
            codes.add(code)
            heading = self.integer(ef["heading"], f"{epath}.heading", minimum=0)
            if heading not in heading_numbers:
                known = ", ".join(str(n) for n in heading_numbers)
                self.fail(
                    ef["heading"],
                    f"{epath}.heading",
                    f"heading {heading} is not one of the headings listed ({known})",
                )
            title = self.text(ef["title"], f"{epath}.title")
            focus: tuple[str, ...] = ()
            if "focus" in ef:
                fnodes = self.sequence(ef["focus"], f"{epath}.focus")
                focus = tuple(self.text(f, f"{epath}.focus[{i}]") for i, f in enumerate(fnodes))
            questions = self.questions(ef["questions"], f"{epath}.questions", scale)
            descriptors = FrozenMap()
            if "descriptors" in ef:
                descriptors = self.descriptors(ef["descriptors"], f"{epath}.descriptors", scale)
            result.append(
                Element(
                    code=code,
                    title=title,
                    heading=heading,
                    focus=focus,
                    questions=questions,
                    descriptors=descriptors,
                )
            )
        return result

    def questions(self, node: Node, path: str, scale: Scale) -> tuple[Question, ...]:
        items = self.sequence(node, path)
        result: list[Question] = []
        numbers: set[str] = set()
        for index, item in enumerate(items):
            qpath = f"{path}[{index}]"
            qf = self.mapping(item, qpath, _QUESTION_FIELDS)
            number = self.text(qf["number"], f"{qpath}.number")
            if number in numbers:
                self.fail(
                    qf["number"], f"{qpath}.number", f"duplicate question number {show(number)}"
                )
            numbers.add(number)
            stage = self.text(qf["stage"], f"{qpath}.stage")
            if stage not in STAGES:
                self.fail(
                    qf["stage"],
                    f"{qpath}.stage",
                    f"unknown stage {show(stage)} (expected {' or '.join(STAGES)})",
                )
            text = self.text(qf["text"], f"{qpath}.text")
            descriptors = FrozenMap()
            if "descriptors" in qf:
                descriptors = self.descriptors(qf["descriptors"], f"{qpath}.descriptors", scale)
            result.append(Question(number=number, text=text, stage=stage, descriptors=descriptors))
        return tuple(result)


def _yaml_error(error: yaml.YAMLError, source: str, text: str) -> FrameworkError:
    if isinstance(error, yaml.reader.ReaderError):
        at = text.count("\n", 0, max(error.position, 0)) + 1
        char = error.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return FrameworkError(
            f"character {shown} is not allowed in YAML ({error.reason})", source, at, "document"
        )
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        what = error.problem or error.context or "invalid YAML"
        if error.context and error.problem:
            what = f"{error.context}, {error.problem}"
        return FrameworkError(f"YAML syntax error: {what}", source, line, "document")
    return FrameworkError(f"YAML syntax error: {error}", source, None, "document")


def load_text(text: str, source: str = "<string>") -> Framework:
    """Load a framework from YAML text; ``source`` names it in error messages.

    Raises :class:`FrameworkError` (and nothing else) when the text is not a valid framework.
    """
    source = str(source)
    if not isinstance(text, str):
        raise FrameworkError(
            f"expected text, got {type(text).__name__}", source=source, path="document"
        )
    try:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            raise _yaml_error(error, source, text) from None
        return _Checker(source).document(root, text)
    except FrameworkError:
        raise
    except RecursionError:
        raise FrameworkError("nested too deeply", source=source, path="document") from None
    except Exception as error:  # the contract: nothing but FrameworkError escapes
        raise FrameworkError(
            f"could not be read ({type(error).__name__})", source=source, path="document"
        ) from None


def load_path(path: str | os.PathLike[str]) -> Framework:
    """Load a framework file (UTF-8 YAML)."""
    source = os.fspath(path)
    try:
        data = pathlib.Path(source).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise FrameworkError(f"cannot read file: {reason}", source=source, path="file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FrameworkError(
            "file is not UTF-8 text", source=source, line=line, path="document"
        ) from None
    return load_text(text, source=source)


def builtin_keys() -> list[str]:
    """Keys of the frameworks shipped in this package, the default (mat-assurance) first."""
    keys = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))
    if "mat-assurance" in keys:
        keys.remove("mat-assurance")
        keys.insert(0, "mat-assurance")
    return keys


def builtin_path(key: str) -> pathlib.Path:
    """The file of a built-in framework; :class:`FrameworkError` if there is no such key."""
    if not isinstance(key, str) or key not in builtin_keys():
        raise FrameworkError(
            f"no built-in framework {show(key)} (built in: {', '.join(builtin_keys())})",
            source="<builtin>",
            path="key",
        )
    return BUILTIN_DIR / f"{key}.yaml"


@functools.cache
def _load_builtin(key: str) -> Framework:
    path = builtin_path(key)
    framework = load_path(path)
    if framework.key != key:
        raise FrameworkError(
            f"file declares key {framework.key!r}, expected {show(key)}",
            source=str(path),
            path="key",
        )
    return framework


def load_builtin(key: str) -> Framework:
    """Load a built-in framework by key (cached: later calls return the same object)."""
    builtin_path(key)  # FrameworkError for an unknown key, before touching the cache
    return _load_builtin(key)
