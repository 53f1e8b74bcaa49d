"""A cycle on the second built-in framework (RSC South West 2015, scale beginning..leading, with
stage descriptors per element and no questions) runs end to end: form, submit, seal, report."""

from __future__ import annotations

import csv
import io
import re

from survey.models import Cycle, CycleState
from survey.reports.store import store_report
from survey.services.cycles import close_cycle, launch_cycle
from survey.services.frameworks import get_cycle_framework
from survey.services.links import mint_link

STAGES = ["beginning", "developing", "embedding", "leading"]


def test_characteristics_cycle_from_form_to_summary_csv(
    app, client, session, make_cycle, add_people
) -> None:
    cycle: Cycle = make_cycle(framework_key="mat-characteristics-2015")
    invitations = add_people(cycle, {"headteacher": 3, "executive": 1})
    launch_cycle(session, cycle, "test")
    links = [mint_link(session, invitation) for invitation in invitations]
    session.commit()
    framework = get_cycle_framework(session, cycle)
    codes = [element.code for element in framework.elements]
    assert len(codes) == 10

    for number, link in enumerate(links):
        client = app.test_client()  # a browser of its own for each person
        assert client.get(link.removeprefix(app.config["BASE_URL"])).status_code == 303
        # The landing page holds the first heading (element 0); each Step has a page of its own.
        page = client.get("/survey").get_data(as_text=True)
        page += client.get("/survey/page/2").get_data(as_text=True)
        # Each stage is offered in words, and each element shows its stage descriptors.
        for stage in STAGES:
            assert f'value="{stage}"' in page
        assert "Leading" in page and "Beginning" in page
        descriptor = framework.elements[1].descriptors["leading"]
        assert descriptor[:60].replace("'", "&#39;") in page
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token is not None
        form = {f"rating-{code}": STAGES[(number + i) % 4] for i, code in enumerate(codes)}
        form["rating-0"] = "dont-know"
        done = client.post(
            "/survey", data={**form, "csrf_token": token.group(1), "action": "submit"}
        )
        assert done.status_code == 303, done.get_data(as_text=True)[:500]

    session.refresh(cycle)
    close_cycle(session, cycle, "test")
    report = store_report(session, cycle)
    session.commit()
    assert cycle.state == CycleState.CLOSED
    summary = report.file("summary.csv")
    assert summary is not None
    rows = list(csv.DictReader(io.StringIO(summary.content.decode())))
    assert list(rows[0].keys()) == [
        "element", "heading", "group", "responses", "beginning", "developing", "embedding",
        "leading", "dont_know", "mean", "suppressed",
    ]  # fmt: skip
    heads = [r for r in rows if r["group"] == "headteacher"]
    assert [r["element"] for r in heads] == codes
    assert all(r["responses"] == "3" and r["suppressed"] == "false" for r in heads)
    assert heads[0]["dont_know"] == "3" and heads[0]["mean"] == ""
    # The single executive is below the threshold and hidden.
    executives = [r for r in rows if r["group"] == "executive"]
    assert all(r["suppressed"] == "true" and r["mean"] == "" for r in executives)
