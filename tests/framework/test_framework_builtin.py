"""The built-in frameworks: exact structure and a sample of exact text against the seeds."""

from __future__ import annotations

import re

import pytest

from framework import (
    DONT_KNOW,
    Framework,
    builtin_keys,
    builtin_path,
    load_builtin,
    load_path,
    load_text,
    parse_scope,
)

ATTRIBUTION = "Contains public sector information licensed under the Open Government Licence v3.0."

MAT_COUNTS = {
    "1A": (3, 3),
    "1B": (3, 2),
    "1C": (3, 2),
    "2A": (3, 2),
    "2B": (4, 2),
    "3A": (4, 2),
    "3B": (3, 3),
    "3C": (3, 2),
    "4A": (3, 3),
    "4B": (3, 2),
    "5A": (3, 3),
    "5B": (3, 2),
    "6A": (2, 2),
    "6B": (2, 4),
}

ROMAN = ("i", "ii", "iii", "iv", "v", "vi")


@pytest.fixture(scope="module")
def mat() -> Framework:
    return load_builtin("mat-assurance")


@pytest.fixture(scope="module")
def chars() -> Framework:
    return load_builtin("mat-characteristics-2015")


def all_texts(fw: Framework) -> list[str]:
    texts = [fw.title, fw.introduction, fw.attribution, fw.source, fw.scale.explanation]
    for level in fw.scale.levels:
        texts += [level.label, level.meaning]
    for heading in fw.headings:
        texts.append(heading.title)
        for element in heading.elements:
            texts += [element.title, *element.focus, *element.descriptors.values()]
            for q in element.questions:
                texts += [q.text, *q.descriptors.values()]
    return [t for t in texts if t]


def test_builtin_keys_and_paths() -> None:
    assert builtin_keys() == ["mat-assurance", "mat-characteristics-2015"]
    for key in builtin_keys():
        path = builtin_path(key)
        assert path.name == f"{key}.yaml" and path.is_file()
        fw = load_builtin(key)
        assert fw.key == key
        assert load_builtin(key) is fw  # cached
        assert load_path(path) == fw
        assert fw.attribution == ATTRIBUTION


# -- mat-assurance --------------------------------------------------------------------------


def test_mat_headings(mat: Framework) -> None:
    assert mat.title == "MAT Assurance Framework"
    assert [(h.number, h.title) for h in mat.headings] == [
        (1, "Vision, culture and ethos"),
        (2, "People and partners"),
        (3, "Teaching and learning"),
        (4, "Curriculum and assessment"),
        (5, "Quality assurance and accountability"),
        (6, "Governance capability"),
    ]
    assert [[e.code for e in h.elements] for h in mat.headings] == [
        ["1A", "1B", "1C"],
        ["2A", "2B"],
        ["3A", "3B", "3C"],
        ["4A", "4B"],
        ["5A", "5B"],
        ["6A", "6B"],
    ]


def test_mat_elements_and_question_counts(mat: Framework) -> None:
    assert [e.code for e in mat.elements] == list(MAT_COUNTS)
    for element in mat.elements:
        start = [q for q in element.questions if q.stage == "start"]
        additional = [q for q in element.questions if q.stage == "additional"]
        assert (len(start), len(additional)) == MAT_COUNTS[element.code], element.code
        assert element.heading == int(element.code[0])
        # Numbered i, ii, iii ... with the questions to start with first.
        assert [q.number for q in element.questions] == list(ROMAN[: len(element.questions)])
        assert element.questions[: len(start)] == tuple(start)
        assert element.focus, element.code
        assert not element.descriptors
    stages = [q.stage for e in mat.elements for q in e.questions]
    assert stages.count("start") == 42
    assert stages.count("additional") == 34
    assert len(stages) == 76


def test_mat_every_question_has_red_and_green_only(mat: Framework) -> None:
    for element in mat.elements:
        for q in element.questions:
            assert tuple(q.descriptors) == ("red", "green"), (element.code, q.number)


def test_mat_scale(mat: Framework) -> None:
    scale = mat.scale
    assert scale.keys == ("red", "amber-red", "amber-green", "green")
    assert scale.answer_keys == ("red", "amber-red", "amber-green", "green", DONT_KNOW)
    assert [(lv.label, lv.score) for lv in scale.levels] == [
        ("Red", 1),
        ("Amber red", 2),
        ("Amber green", 3),
        ("Green", 4),
    ]
    assert scale.levels[0].meaning == "weak capacity"
    assert scale.levels[3].meaning == "strong capacity"
    assert scale.explanation.startswith(
        "Descriptions have deliberately not been provided for the 'Amber Red' and 'Amber Green'"
        " ratings. If you think that your MAT matches neither the 'Red' nor the 'Green'"
        " description, think about which end of the scale it is closer to"
    )


def test_mat_introduction(mat: Framework) -> None:
    intro = mat.introduction
    assert (
        "For each of the 14 elements, the framework identifies questions to start with as well as"
        " additional questions to consider." in intro
    )
    assert (
        "Remember: this tool is diagnostic, not evaluative or judgemental. The aim is to identify"
        " your MAT's most significant areas of strength and challenge, so that you can build your"
        " capacity for improvement." in intro
    )
    assert "*" not in intro


def test_mat_focus_labels(mat: Framework) -> None:
    assert mat.element("1A").focus == (
        "Vision for the MAT",
        "Link to strategy",
        "Roles and responsibilities",
    )
    assert mat.element("2B").focus == (
        "Recruiting to the MAT",
        "Staff Progression",
        "Talent Management",
    )
    assert mat.element("4A").focus == (
        "Age-related expectations",
        "Curriculum design",
        "Curriculum resources",
    )


# fmt: off
MAT_SENTENCES = [
    # (code, number, "text" | "red" | "green", exact text)
    ("1A", "i", "text",
     "Does the MAT have a clear vision of what excellent education looks like in practice?"),
    ("1A", "iii", "text",
     "Does the MAT know how it will improve the schools in its trust to deliver its shared vision"
     " for excellent education?"),
    ("1B", "iii", "red",
     "The MAT's approach to school improvement is not sufficiently refined \u2013 or data-informed"
     " \u2013 to respond to evidence of pupil and school needs"),
    ("1C", "iv", "text",
     "Do staff across the MAT feel like they have been genuinely engaged in co-constructing the"
     " approach to improvement? Are they committed to working across the MAT to support all of its"
     " schools?"),
    ("2B", "i", "red",
     "Staff recruitment and development is delegated to schools; there is no coordinated approach"
     " across the MAT: staff decide whether to join the school rather than being part of the wider"
     " MAT"),
    ("2B", "ii", "text",
     "Does the MAT have a well-developed strategy for developing teaching staff throughout their"
     " careers?"),
    ("2B", "iv", "text",
     "Does the MAT have a clear strategy to promote staff well-being and manage workload?"),
    ("2B", "iv", "red",
     "The MAT approach to staff well-being and workload is unclear, or is left to schools to"
     " determine for themselves"),
    ("4A", "ii", "text",
     "Are there common age-related expectations for each year group across the MAT? (e.g. do all"
     " staff agree on what represents a year's worth of progress?)"),
    ("4A", "vi", "red",
     "There are few opportunities to review the effectiveness of the curriculum for all pupils."
     " The curriculum has evolved without the use of evidence; as a result pupils lack continuity"
     " year to year"),
    ("4A", "vi", "green",
     "MAT leaders regularly review the curriculum from the perspective of pupils to ensure it"
     " provides continuity for pupils' learning and promotes effective transitions"),
    ("5A", "i", "red",
     "A culture of transparency has not been established, data is not widely shared. MAT-school"
     " conversations are infrequent, superficial and/or defensive"),
    ("5A", "v", "text",
     "Does the MAT operate smart data systems i.e. once inputted, can data be aggregated,"
     " disaggregated and analysed for different schools/groups of students?"),
    ("5B", "i", "red",
     "The MAT has not yet developed a routine cycle of school improvement review and monitoring"
     " activities. Meetings between MAT/cluster and school leaders are infrequent, ad-hoc and"
     " unstructured"),
    ("6A", "iii", "text",
     "Do you have the right skills and attitudes at board level to focus on school improvement and"
     " provide robust challenge to hold the executive to account?"),
    ("6A", "iii", "green",
     "There are regular opportunities to review the skills and expertise at board level to reflect"
     " a balance of educational understanding to focus on school improvement. Development"
     " opportunities include a focus on school improvement"),
    ("6B", "iv", "green", "The MAT has a clear succession plan for governance"),
]
# fmt: on


@pytest.mark.parametrize(("code", "number", "part", "expected"), MAT_SENTENCES)
def test_mat_exact_sentences(
    mat: Framework, code: str, number: str, part: str, expected: str
) -> None:
    (question,) = [q for q in mat.element(code).questions if q.number == number]
    actual = question.text if part == "text" else question.descriptors[part]
    assert actual == expected


def test_mat_titles(mat: Framework) -> None:
    assert mat.element("3C").title == "Evidence based professional learning"
    assert mat.element("6B").title == "Capability to refresh and renew the MAT"
    assert mat.element("4A").title == "Curriculum principles, intent and alignment"


# -- mat-characteristics-2015 ---------------------------------------------------------------


def test_characteristics_structure(chars: Framework) -> None:
    assert chars.title == "Characteristics of successful multi-academy trusts"
    assert [e.code for e in chars.elements] == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    assert [h.number for h in chars.headings] == list(range(10))
    assert chars.headings[0].title == "Overall performance self assessment"
    assert [h.title for h in chars.headings[1:]] == [f"Step {n}" for n in range(1, 10)]
    assert chars.scale.keys == ("beginning", "developing", "embedding", "leading")
    assert [lv.score for lv in chars.scale.levels] == [1, 2, 3, 4]
    assert [lv.label for lv in chars.scale.levels] == [
        "Beginning",
        "Developing",
        "Embedding",
        "Leading",
    ]
    for element in chars.elements:
        assert tuple(element.descriptors) == chars.scale.keys, element.code
        assert all(element.descriptors.values())
        assert element.questions == ()
    assert chars.question_count(parse_scope("all")) == 0
    assert len(chars.elements_in_scope(parse_scope("start"))) == 10


# fmt: off
CHARS_SENTENCES = [
    ("0", "beginning",
     "The Trust outcomes for young people in terms of the progress they are making from KS1 to 2"
     " or KS2 to 4 are not yet at national averages in more than half of the academies in the"
     " Trust"),
    ("2", "beginning",
     "Accountability is linked to line management at academy level and does not rise through the"
     " Trust effectively. Local governing bodies may hold the Principal(s) to account but the"
     " Chief Executive Officer (CEO) and Trust Board are not directly involved. The CEO is not"
     " fully held to account. Performance Management is embryonic at Trust level"),
    ("7", "leading",
     "The Board risk is managed well and there is a clear relationship between risk and"
     " mitigation. The board has a structure in place that ensures that not only current risks are"
     " managed well but that there is a 3-5 year risk anticipation plan in place that is under"
     " regular review"),
    ("9", "embedding",
     "The Trust and the academies play a key role in wider system leadership through membership"
     " of Teaching School Alliances, supporting other schools, leading and participating in local"
     " partnerships and sharing expertise widely. The Trust learns from and contributes to the"
     " practice of other MATs in their region"),
    ("1", "developing",
     "Each academy has links in their improvement plan to the Trust strategic plan showing the"
     " contribution they make to the Trust and the academy priorities"),
]
# fmt: on


@pytest.mark.parametrize(("code", "key", "expected"), CHARS_SENTENCES)
def test_characteristics_exact_sentences(
    chars: Framework, code: str, key: str, expected: str
) -> None:
    assert chars.element(code).descriptors[key] == expected


def test_characteristics_titles_and_stage_meanings(chars: Framework) -> None:
    assert chars.element("0").title == (
        "There is clear evidence that the outcomes for young people who are educated within the"
        " MAT are exceeding previous performance and national expectations"
    )
    assert chars.element("7").title == (
        "There is evidence of skilled management of Trust Risk indicators"
    )
    assert chars.scale.levels[3].meaning.startswith(
        "A MAT that is leading will be influencing practice beyond its own organisation."
    )


# -- text hygiene (PDF conversion artefacts must not reach headteachers) ------------------------

ARTEFACTS = [
    "**",
    "  ",
    "¹",
    "²",
    "<p",
    "<i>",
    "](",
    "coconstructing",
    "datainformed",
    "agerelated",
    "welldeveloped",
    "ioin",
    "inschool",
    "actionfocused",
    "broadbrush",
    "MATschool",
    "wellbeing",
    "well being",
    "clear being",
]


@pytest.mark.parametrize("key", ["mat-assurance", "mat-characteristics-2015"])
def test_no_conversion_artefacts(key: str) -> None:
    fw = load_builtin(key)
    for text in all_texts(fw):
        assert text == text.strip()
        for artefact in ARTEFACTS:
            assert artefact not in text, (artefact, text)
        # A word fused onto the next by the conversion (e.g. "level**to") leaves no space
        # after a closing bracket/question mark followed by a letter.
        assert not re.search(r"\?[A-Za-z]", text), text
    for element in fw.elements:
        for q in element.questions:
            assert not q.text.endswith(" and") and not q.text.endswith(" of")
            for d in q.descriptors.values():
                assert not d.endswith(" and") and not d.endswith(" of"), d


@pytest.mark.parametrize("key", ["mat-assurance", "mat-characteristics-2015"])
def test_source_text_reloads_identically(key: str) -> None:
    fw = load_builtin(key)
    again = load_text(fw.source_text, source="pinned")
    assert again == fw
    assert again.version == fw.version
