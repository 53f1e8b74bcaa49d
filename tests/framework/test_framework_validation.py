"""Hand-written bad framework files: each is rejected with the right place and reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from framework import FrameworkError, load_path, load_text

VALID = """\
key: tiny
title: Tiny framework
scale:
  levels:
    - {key: weak, label: Weak, score: 1}
    - {key: strong, label: Strong, score: 2}
headings:
  - number: 1
    title: Only heading
elements:
  - code: 1A
    heading: 1
    title: First element
    questions:
      - number: i
        stage: start
        text: Is it good?
        descriptors:
          weak: It is not good
          strong: It is good
"""

SECOND_ELEMENT = """\
  - code: 1B
    heading: 1
    title: Second element
    questions: []
"""


def edit(old: str, new: str, base: str = VALID) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def test_valid_base_loads() -> None:
    fw = load_text(VALID, "tiny.yaml")
    assert fw.key == "tiny"
    assert fw.scale.keys == ("weak", "strong")
    descriptors = fw.element("1A").questions[0].descriptors
    assert descriptors == {"weak": "It is not good", "strong": "It is good"}
    assert fw.introduction == fw.attribution == fw.source == ""
    two = load_text(VALID + SECOND_ELEMENT, "tiny.yaml")
    assert [e.code for e in two.elements] == ["1A", "1B"]


# fmt: off
BAD = [
    # (id, text, line, key path, reason fragment)
    ("syntax", edit("title: Tiny framework", "title: [Tiny framework"), 3, "document",
     "YAML syntax error"),
    ("tab-indent", edit("    title: Only heading", "\ttitle: Only heading"), 9, "document",
     "YAML syntax error"),
    ("top-level-list", "- key: tiny\n- title: x\n", 1, "document", "expected a mapping"),
    ("top-level-text", "just some words\n", 1, "document", "expected a mapping"),
    ("missing-key", edit("key: tiny\n", ""), 1, "key", "required field is missing"),
    ("missing-title", edit("title: Tiny framework\n", ""), 1, "title", "required field is missing"),
    ("missing-elements", VALID.split("elements:")[0], 1, "elements", "required field is missing"),
    ("missing-code", edit("  - code: 1A\n    heading: 1", "  - heading: 1"), 11,
     "elements[0].code", "required field is missing"),
    ("missing-question-text", edit("        text: Is it good?\n", ""), 15,
     "elements[0].questions[0].text", "required field is missing"),
    ("missing-stage", edit("        stage: start\n", ""), 15,
     "elements[0].questions[0].stage", "required field is missing"),
    ("title-is-list", edit("title: Tiny framework", "title: [Tiny, framework]"), 2, "title",
     "expected text, got a list"),
    ("score-not-number", edit("score: 1}", "score: one}"), 5, "scale.levels[0].score",
     "expected a whole number"),
    ("score-float", edit("score: 1}", "score: 1.5}"), 5, "scale.levels[0].score",
     "expected a whole number"),
    ("questions-not-list", VALID.split("    questions:")[0] + "    questions: 3\n", 14,
     "elements[0].questions", "expected a list"),
    ("elements-mapping", VALID.split("elements:")[0] + "elements: {code: 1A}\n", 10, "elements",
     "expected a list"),
    ("duplicate-code", VALID + SECOND_ELEMENT.replace("1B", "1A"), 21, "elements[1].code",
     "duplicate element code '1A'"),
    ("duplicate-question-number",
     VALID + "      - number: i\n        stage: additional\n        text: Again?\n", 21,
     "elements[0].questions[1].number", "duplicate question number 'i'"),
    ("empty-question-text", edit("text: Is it good?", "text: ''"), 17,
     "elements[0].questions[0].text", "must not be empty"),
    ("null-question-text", edit("text: Is it good?", "text:"), 17,
     "elements[0].questions[0].text", "must not be empty"),
    ("unknown-descriptor-key", edit("weak: It is not good", "amber: It is not good"), 19,
     "elements[0].questions[0].descriptors.amber",
     "'amber' is not a key of the scale (weak, strong)"),
    ("dont-know-descriptor", edit("weak: It is not good", "dont-know: Who knows"), 19,
     "elements[0].questions[0].descriptors.dont-know", "cannot have a descriptor"),
    ("duplicate-scale-key", edit("key: strong, label: Strong", "key: weak, label: Strong"), 6,
     "scale.levels[1].key", "duplicate scale key 'weak'"),
    ("dont-know-scale-key", edit("key: strong, label: Strong", "key: dont-know, label: Strong"), 6,
     "scale.levels[1].key", "added to every scale automatically"),
    ("scores-not-increasing", edit("score: 2}", "score: 3}"), 6, "scale.levels[1].score",
     "expected 2, got 3"),
    ("scores-from-zero", edit("score: 1}", "score: 0}"), 5, "scale.levels[0].score",
     "must be at least 1"),
    ("one-level-scale", edit("    - {key: strong, label: Strong, score: 2}\n", ""), 5,
     "scale.levels", "at least two levels"),
    ("unknown-stage", edit("stage: start", "stage: later"), 16, "elements[0].questions[0].stage",
     "unknown stage 'later' (expected start or additional)"),
    ("heading-mismatch", edit("    heading: 1", "    heading: 2"), 12, "elements[0].heading",
     "heading 2 is not one of the headings listed (1)"),
    ("heading-without-elements",
     edit("    title: Only heading\n",
          "    title: Only heading\n  - number: 2\n    title: Empty\n"),
     10, "headings[1]", "heading 2 has no elements"),
    ("duplicate-heading-number",
     edit("    title: Only heading\n",
          "    title: Only heading\n  - number: 1\n    title: Again\n"),
     10, "headings[1].number", "duplicate heading number 1"),
    ("key-not-slug", edit("key: tiny", "key: Tiny Framework"), 1, "key", "is not a slug"),
    ("key-underscore", edit("key: tiny", "key: tiny_framework"), 1, "key", "is not a slug"),
    ("no-elements", VALID.split("elements:")[0] + "elements: []\n", 10, "elements",
     "at least one element"),
    ("no-headings",
     edit("headings:\n  - number: 1\n    title: Only heading\n", "headings: []\n"), 7,
     "headings", "at least one heading"),
    ("unknown-top-field", "tittle: Oops\n" + VALID, 1, "tittle",
     "unknown field (did you mean 'title'?)"),
    ("unknown-element-field", edit("    title: First element\n",
                                   "    title: First element\n    descriptor: {weak: x}\n"), 14,
     "elements[0].descriptor", "did you mean 'descriptors'?"),
    ("unknown-question-field", edit("        text: Is it good?\n",
                                    "        text: Is it good?\n        hint: Think\n"), 18,
     "elements[0].questions[0].hint", "unknown field"),
    ("duplicate-yaml-key", edit("title: Tiny framework\n", "title: Tiny framework\ntitle: Again\n"),
     3, "title", "field given twice"),
    ("bad-code", edit("code: 1A", "code: 1a"), 11, "elements[0].code", "is not an element code"),
    ("reserved-code", edit("code: 1A", "code: ALL"), 11, "elements[0].code", "reserved"),
    ("focus-not-list", edit("    title: First element\n",
                            "    title: First element\n    focus: Vision\n"), 14,
     "elements[0].focus", "expected a list"),
    ("descriptors-list", edit("        descriptors:\n          weak: It is not good\n"
                              "          strong: It is good\n", "        descriptors: [a, b]\n"),
     18, "elements[0].questions[0].descriptors", "expected a mapping"),
    ("empty-document", "", None, "document", "empty"),
    ("comment-only", "# nothing here\n", None, "document", "empty"),
    ("two-documents", VALID + "---\n" + VALID, 21, "document", "YAML syntax error"),
    ("control-character", edit("Is it good?", "Is it\x07 good?"), 17, "document",
     "U+0007 is not allowed"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "line", "path", "reason"),
    [pytest.param(text, line, path, reason, id=name) for name, text, line, path, reason in BAD],
)
def test_bad_file_is_rejected_with_place_and_reason(
    text: str, line: int | None, path: str, reason: str
) -> None:
    with pytest.raises(FrameworkError) as info:
        load_text(text, "bad.yaml")
    error = info.value
    message = str(error)
    assert "\n" not in message
    assert (error.source, error.line, error.path) == ("bad.yaml", line, path), message
    assert reason in error.reason, message
    place = "bad.yaml" if line is None else f"bad.yaml:{line}"
    assert message == f"{place}: {path}: {error.reason}"


def test_load_path_reports_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID, encoding="utf-8")
    assert load_path(good).key == "tiny"
    assert load_path(str(good)).version == load_text(VALID).version

    bad = tmp_path / "bad.yaml"
    bad.write_text(edit("stage: start", "stage: later"), encoding="utf-8")
    place = r"bad\.yaml:16: elements\[0\]\.questions\[0\]\.stage: "
    with pytest.raises(FrameworkError, match=place):
        load_path(bad)

    missing = tmp_path / "missing.yaml"
    with pytest.raises(FrameworkError, match=r"missing\.yaml: file: cannot read file"):
        load_path(missing)

    with pytest.raises(FrameworkError, match="cannot read file"):
        load_path(tmp_path)  # a directory

    latin = tmp_path / "latin.yaml"
    latin.write_bytes(VALID.replace("Is it good?", "Is it gr\xe2t?").encode("latin-1"))
    with pytest.raises(FrameworkError, match=r"latin\.yaml:17: document: file is not UTF-8"):
        load_path(latin)


def test_non_text_input_is_a_framework_error() -> None:
    with pytest.raises(FrameworkError):
        load_text(b"key: tiny")  # type: ignore[arg-type]
    with pytest.raises(FrameworkError):
        load_text(None)  # type: ignore[arg-type]


def test_deep_nesting_and_alias_loops_are_framework_errors() -> None:
    with pytest.raises(FrameworkError, match="document"):
        load_text("[" * 5000 + "]" * 5000)
    with pytest.raises(FrameworkError):
        load_text("&a [*a]")
    with pytest.raises(FrameworkError):
        load_text(edit("questions:\n", "questions: &q\n") + "      - *q\n")


def test_unknown_builtin_key() -> None:
    from framework import builtin_path, load_builtin

    with pytest.raises(FrameworkError, match="no built-in framework"):
        builtin_path("nope")
    with pytest.raises(FrameworkError, match="no built-in framework"):
        load_builtin("nope")


def test_readme_example_loads() -> None:
    readme = (Path(__file__).parents[2] / "framework" / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert match is not None
    fw = load_text(match.group(1), "README.md")
    assert fw.key == "our-trust-review"
    assert fw.scale.answer_keys == ("red", "amber", "green", "dont-know")
