"""The golden cycle: summary.csv equals a hand-checked file, and the report's heat map, gaps,
movement and comments say exactly what they should (tests/reports/golden/)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from survey.reports.compile import compile_cycle
from survey.reports.outputs import render_report_html, render_summary_csv

from .conftest import Golden
from .factories import EXEC_SECRET, section, table_rows

GOLDEN = Path(__file__).parent / "golden"


def test_summary_csv_matches_the_hand_checked_file(session: Session, golden: Golden) -> None:
    produced = render_summary_csv(compile_cycle(session, golden.cycle))
    assert produced == (GOLDEN / "summary.csv").read_bytes()


def test_report_html_sections_hold_the_expected_values(session: Session, golden: Golden) -> None:
    html = str(render_report_html(compile_cycle(session, golden.cycle)))

    summary = table_rows(section(html, "summary"))
    assert ["Executive leaders", "3", "2", "0", "0", "67%",
            "hidden: fewer than 3 responses"] in summary  # fmt: skip
    assert ["Headteachers", "8", "6", "1", "0", "75%", "shown"] in summary
    assert ["Middle leaders", "15", "12", "0", "1", "80%", "shown"] in summary

    heat = table_rows(section(html, "heat-map"))
    assert heat[0] == [
        "Element",
        "Executive leaders 2",
        "Headteachers 6",
        "Middle leaders 12",
        "All shown groups 18, all answers",
    ]
    hidden = "Hidden"
    assert heat[1:] == [
        ["1. Vision, culture and ethos"],
        ["1A Clarity of purpose", hidden, "Amber green 3.40", "Amber red 2.36", "Amber green 2.69"],
        ["2. People and partners"],
        ["2A Building capacity for improvement", hidden, "Amber red 2.17", "Amber green 3.17",
         "Amber green 2.83"],
        ["3. Teaching and learning"],
        ["3A Approach to pedagogy", hidden, "Amber green 3.33", "Amber green 3.36",
         "Amber green 3.35"],
    ]  # fmt: skip

    assert "Hidden: Executive leaders (fewer than 3 responses)." in section(html, "heat-map")
    comparison = table_rows(section(html, "comparison"))
    assert comparison[1:] == [
        ["1A Clarity of purpose", "Headteachers 3.40", "Middle leaders 2.36", "1.04", "2.69",
         "2.88"],
        ["2A Building capacity for improvement", "Middle leaders 3.17", "Headteachers 2.17",
         "1.00", "2.83", "2.67"],
        ["3A Approach to pedagogy", "Middle leaders 3.36", "Headteachers 3.33", "0.03", "3.35",
         "3.35"],
    ]  # fmt: skip
    tables = section(html, "tables")
    gaps = re.findall(r'<p class="gap">(.*?)</p>', tables)
    assert gaps == [
        "Perception gap 1.04: Headteachers rate this 1.04 higher than Middle leaders "
        "(3.40 against 2.36). Mean of group means 2.88.",
        "Perception gap 1.00: Middle leaders rate this 1.00 higher than Headteachers "
        "(3.17 against 2.17). Mean of group means 2.67.",
        "Perception gap 0.03: Middle leaders rate this 0.03 higher than Headteachers "
        "(3.36 against 3.33). Mean of group means 3.35.",
    ]
    rows = table_rows(tables)
    # The hidden group's distribution is never given; the trust-wide one covers shown groups.
    assert ["Executive leaders", "2", "Hidden: fewer than 3 responses"] in rows
    assert ["All shown groups", "18", "2", "4", "7", "3", "2", "2.69", "Amber green", "0.92",
            "44%"] in rows  # fmt: skip

    strengths = section(html, "strengths")
    # All three have most answers in the upper half and a mean in it: all three are strengths.
    ranked = strengths[: strengths.index("<h3>Priorities</h3>")]
    order = [
        ranked.index("3A Approach to pedagogy: mean 3.35 (Amber green), 16 of 17 in the upper"),
        ranked.index("2A Building capacity for improvement: mean 2.83 (Amber green), 12 of 18"),
        ranked.index("1A Clarity of purpose: mean 2.69 (Amber green), 10 of 16 in the upper"),
    ]
    assert order == sorted(order)
    priorities = strengths[strengths.index("<h3>Priorities</h3>") :]
    assert "Every rated element meets the rule for a strength" in priorities
    disagree = strengths[strengths.index("Where groups disagree most") :]
    assert "1A Clarity of purpose: gap 1.04" in disagree
    assert "2A Building capacity for improvement: gap 1.00" in disagree
    assert "3A Approach to pedagogy: gap" not in disagree
    assert "Does the MAT have a clear vision of what excellent education looks like" in disagree

    movement_html = section(html, "movement")
    movement = table_rows(movement_html)
    # Only the columns with something compared are drawn; the others say why in a line each.
    assert movement[0] == ["Element", "Headteachers"]
    assert movement[1:] == [
        ["1A Clarity of purpose", "2.40 → 3.40 up 1.00 Amber red to Amber green"],
        ["2A Building capacity for improvement", "1.40 → 2.17 up 0.77 Red to Amber red"],
        ["3A Approach to pedagogy", "3.00 → 3.33 up 0.33"],
    ]
    notes = re.findall(r'<p class="note">(.*?)</p>', movement_html)
    assert notes == [
        "Executive leaders: not compared (hidden in this cycle).",
        "Middle leaders: not compared (hidden in Spring 2025 review).",
        "All shown groups: not compared (the shown groups differ between the cycles).",
    ]

    comments = section(html, "comments")
    items = dict(
        (code, re.findall(r"<li>(.*?)</li>", block, re.S))
        for code, block in re.findall(r"<h4>(\dA) [^<]*</h4>\s*(.*?)(?=<h[34]>|$)", comments, re.S)
    )
    assert sorted(items["1A"]) == sorted(
        [
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; The vision is written down but "
            "not shared",
            "Strong shared purpose across our schools",
        ]
    )
    assert items["2A"] == ["=HYPERLINK(&#34;http://evil.example/&#34;,&#34;click me&#34;)"]
    assert items["3A"] == ["Teaching is observed termly"]

    # Nothing from the hidden group, nothing from last year, nothing executable, nothing fetched.
    assert EXEC_SECRET not in html
    assert "Last year" not in html
    assert "<script" not in html.lower()
    # The charts are inline PNG data, never a URL.
    assert not re.search(r"""(src|href)\s*=\s*"(?!data:image/png;base64,)|url\(|@import""", html)
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 2
