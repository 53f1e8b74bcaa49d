"""Scopes, question counts, the scale, versions and immutability."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from framework import (
    DONT_KNOW,
    Framework,
    FrameworkError,
    Question,
    Scope,
    builtin_path,
    load_builtin,
    load_text,
    parse_scope,
)


@pytest.fixture(scope="module")
def mat() -> Framework:
    return load_builtin("mat-assurance")


# -- scopes ---------------------------------------------------------------------------------


def test_parse_scope_kinds() -> None:
    assert parse_scope("start") == Scope("start")
    assert parse_scope(" ALL ") == Scope("all")
    assert parse_scope("1a, 2B") == Scope("codes", ("1A", "2B"))
    assert parse_scope("2b 1a,1A") == Scope("codes", ("1A", "2B"))
    assert parse_scope("6B") == Scope("codes", ("6B",))


@pytest.mark.parametrize("text", ["start", "all", "1A,2B", "3C", "1A,1B,6B"])
def test_scope_str_round_trips(text: str) -> None:
    scope = parse_scope(text)
    assert str(scope) == text
    assert parse_scope(str(scope)) == scope


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty scope"),
        ("   ", "empty scope"),
        (",", "is not a scope"),
        ("1A;2B", "is not an element code"),
        ("1A/2B", "is not an element code"),
        ("café", "is not an element code"),
        ("1A, all", "cannot be combined"),
        ("start,1A", "cannot be combined"),
        ("1A,?", "is not an element code"),
    ],
)
def test_parse_scope_rejects(text: str, reason: str) -> None:
    with pytest.raises(FrameworkError) as info:
        parse_scope(text)
    assert reason in str(info.value)
    assert str(info.value).startswith("scope: ")


def test_scope_constructor_validates() -> None:
    with pytest.raises(FrameworkError):
        Scope("some")
    with pytest.raises(FrameworkError):
        Scope("codes")
    with pytest.raises(FrameworkError):
        Scope("all", ("1A",))
    assert Scope("codes", ("2b", "1a")).codes == ("1A", "2B")


def test_question_counts(mat: Framework) -> None:
    start = parse_scope("start")
    assert len(mat.elements_in_scope(start)) == 14
    assert mat.question_count(start) == 42
    everything = parse_scope("all")
    assert len(mat.elements_in_scope(everything)) == 14
    assert mat.question_count(everything) == 76
    some = parse_scope("2B,1a")
    assert [e.code for e in mat.elements_in_scope(some)] == ["1A", "2B"]
    assert mat.question_count(some) == 6 + 6
    element = mat.element("2B")
    assert [q.number for q in element.questions_for(start)] == ["i", "ii", "iii", "iv"]
    assert len(element.questions_for(some)) == 6
    assert len(element.questions_for(everything)) == 6


def test_validate_scope_names_unknown_codes(mat: Framework) -> None:
    mat.validate_scope(parse_scope("1A,6B"))
    mat.validate_scope(parse_scope("all"))
    with pytest.raises(FrameworkError) as info:
        mat.validate_scope(parse_scope("1A,7Z,9Q"))
    assert "7Z" in str(info.value) and "9Q" in str(info.value)
    assert "1A," not in str(info.value).split("(")[0]
    with pytest.raises(FrameworkError):
        mat.elements_in_scope(parse_scope("7Z"))
    # Well-formed but unknown words are caught here, not by parse_scope.
    with pytest.raises(FrameworkError, match="EVERYTHING"):
        mat.validate_scope(parse_scope("everything"))


def test_element_lookup(mat: Framework) -> None:
    assert mat.element("3b").code == "3B"
    assert mat.element("3B").title == "Leadership of teaching"
    with pytest.raises(KeyError):
        mat.element("7A")


# -- scale ----------------------------------------------------------------------------------


def test_scale_scores_and_labels(mat: Framework) -> None:
    scale = mat.scale
    assert [scale.score(k) for k in scale.keys] == [1, 2, 3, 4]
    assert scale.score(DONT_KNOW) is None
    assert scale.label(DONT_KNOW) == "Don't know / not enough evidence"
    assert scale.label("amber-green") == "Amber green"
    with pytest.raises(KeyError):
        scale.score("purple")
    with pytest.raises(KeyError):
        scale.label("purple")


@pytest.mark.parametrize(
    ("mean", "key"),
    [
        (-3.0, "red"),
        (0.0, "red"),
        (1.0, "red"),
        (1.49, "red"),
        (1.5, "amber-red"),
        (2.0, "amber-red"),
        (2.4999, "amber-red"),
        (2.5, "amber-green"),
        (5 / 2, "amber-green"),
        (3.5, "green"),
        (4.0, "green"),
        (9.0, "green"),
        (float("inf"), "green"),
    ],
)
def test_level_for_mean(mat: Framework, mean: float, key: str) -> None:
    assert mat.scale.level_for_mean(mean).key == key


# -- versions and immutability --------------------------------------------------------------


def test_version_is_stable_and_tracks_text() -> None:
    text = builtin_path("mat-assurance").read_text(encoding="utf-8")
    first = load_text(text)
    second = load_text(text, source="elsewhere")
    assert first.version == second.version == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert first.version == load_builtin("mat-assurance").version
    assert first.source_text == text
    changed = load_text(text.replace("title: Clarity of purpose", "title: Clarity of purpose!"))
    assert changed.version != first.version
    assert changed.element("1A").title == "Clarity of purpose!"
    # Even a comment changes the version: the version identifies the exact text pinned.
    assert load_text(text + "# note\n").version != first.version


def test_model_is_immutable_and_hashable(mat: Framework) -> None:
    question = mat.element("1A").questions[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        question.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        question.descriptors["red"] = "changed"  # type: ignore[index]
    assert hash(question) == hash(dataclasses.replace(question))
    assert len({mat, load_builtin("mat-assurance")}) == 1
    assert isinstance(hash(mat.element("1A")), int)
    made = Question("i", "Is it?", "start", {"red": "No"})
    assert made.descriptors == {"red": "No"}
    assert isinstance(hash(made), int)
