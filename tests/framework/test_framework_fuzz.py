"""Malformed framework documents: load_text either loads them or raises a FrameworkError that
names a place. Nothing else (TypeError, AttributeError, RecursionError, yaml errors) may escape.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import Framework, FrameworkError, builtin_path, load_text

BASE: dict[str, Any] = yaml.safe_load(builtin_path("mat-assurance").read_text(encoding="utf-8"))

PLACE = re.compile(r"^fuzz\.yaml(:\d+)?: .+: .+")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "red", "green", "dont-know", "start", "additional", "1A", "i", "-1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def check(text: str) -> None:
    try:
        result = load_text(text, "fuzz.yaml")
    except FrameworkError as error:
        message = str(error)
        assert "\n" not in message, message
        assert ":" in message
        assert PLACE.match(message), message
    else:
        assert isinstance(result, Framework)


def containers(node: Any, out: list[Any]) -> list[Any]:
    """Every dict and list in the document, outermost first."""
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            containers(child, out)
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(BASE)
    # A few consecutive elements (with their headings) keep each example small and fast.
    start = draw(st.integers(0, len(doc["elements"]) - 1))
    doc["elements"] = doc["elements"][start : start + draw(st.integers(1, 3))]
    used = {e["heading"] for e in doc["elements"]}
    doc["headings"] = [h for h in doc["headings"] if h["number"] in used]
    doc["introduction"] = doc["introduction"][:120]

    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(containers(doc, [])))
        operation = draw(st.sampled_from(["delete", "replace", "duplicate", "rename", "add"]))
        if isinstance(target, dict):
            if not target:
                target[draw(st.text(max_size=8))] = draw(values)
                continue
            key = draw(st.sampled_from(sorted(target, key=str)))
            if operation == "delete":
                del target[key]
            elif operation == "replace":
                target[key] = draw(values)
            elif operation == "duplicate":
                target[draw(st.sampled_from(["code", "number", "key", "stage", "heading"]))] = (
                    copy.deepcopy(target[key])
                )
            elif operation == "rename":
                target[draw(st.text(max_size=8))] = target.pop(key)
            else:
                target[draw(st.sampled_from(["titel", "dont-know", "amber", "extra", "red"]))] = (
                    draw(values)
                )
        else:
            if not target:
                target.append(draw(values))
                continue
            index = draw(st.integers(0, len(target) - 1))
            if operation == "delete":
                del target[index]
            elif operation == "replace":
                target[index] = draw(values)
            elif operation == "duplicate":
                target.insert(index, copy.deepcopy(target[index]))  # duplicate codes/numbers
            else:
                target.append(draw(values))

    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
    if draw(st.booleans()):
        # Corrupt the YAML text itself: cut it, or splice in some characters.
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at]
        else:
            junk = draw(st.text(alphabet=":-[]{}&*!|>'\"#?,\t\n %@`", max_size=6))
            cut = draw(st.integers(0, 10))
            text = text[:at] + junk + text[at + cut :]
    return text


@FUZZ
@given(mutated_documents())
def test_mutated_real_framework(text: str) -> None:
    check(text)


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["replace", "surrogateescape", "latin-1"]))
def test_random_bytes_decoded(data: bytes, how: str) -> None:
    text = data.decode("latin-1") if how == "latin-1" else data.decode("utf-8", how)
    check(text)


YAMLISH = st.lists(
    st.sampled_from(
        [
            "key: x\n",
            "title: t\n",
            "scale:\n",
            "  levels:\n",
            "headings:\n",
            "elements:\n",
            "  - ",
            "    ",
            "code: 1A\n",
            "heading: 1\n",
            "questions:\n",
            "descriptors:\n",
            "number: i\n",
            "stage: start\n",
            "text: ok\n",
            "red: r\n",
            "score: 1\n",
            "{",
            "}",
            "[",
            "]",
            ",",
            ": ",
            "&a ",
            "*a",
            "!!int ",
            "!!python/name:os.system ",
            "? ",
            "|\n",
            ">-\n",
            "'",
            '"',
            "#",
            "---\n",
            "...\n",
            "<<: *a\n",
            "~",
            "\t",
            "\n",
        ]
    ),
    max_size=40,
).map("".join)


@FUZZ
@given(YAMLISH)
def test_yaml_shaped_noise(text: str) -> None:
    check(text)
