"""A trust's frameworks page: the list with its question counts, the preview of what a respondent
would be asked, and adding the trust's own framework file (checked by the same loader, offered to
that trust only, refused with the loader's line and reason when it is wrong)."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import framework as fw
from survey.models import AdminUser, AuditEvent, Cycle, FrameworkVersion, Trust
from tests.admin.helpers import Browser
from tests.admin.test_trusts_and_cycle_form import cycle_form

SignedIn = tuple[Browser, AdminUser, Trust]
TwoTrusts = tuple[Browser, AdminUser, Trust, Trust]

EXAMPLE = re.compile(r'<pre class="mono" id="example">(.*?)</pre>', re.DOTALL)
OUR_KEY = "our-trust-review"


@pytest.fixture
def two_trusts(
    browser: Browser, make_admin: Callable[..., AdminUser], make_trust: Callable[..., Trust]
) -> TwoTrusts:
    """A CEO who runs two trusts (a learning set), signed in."""
    oak, elm = make_trust("Oak Learning Trust"), make_trust("Elm Academies")
    admin = make_admin(trusts=[oak, elm])
    assert browser.sign_in(admin.email).status_code == 303
    return browser, admin, oak, elm


def page_example(browser: Browser, trust: Trust) -> str:
    """The minimal example the frameworks page shows, as a person would copy it."""
    page = browser.get(f"/admin/trusts/{trust.slug}/frameworks").get_data(as_text=True)
    match = EXAMPLE.search(page)
    assert match, "the frameworks page shows no example"
    return html.unescape(match.group(1))


def upload(browser: Browser, trust: Trust, text: str, filename: str = "our-review.yaml") -> str:
    url = f"/admin/trusts/{trust.slug}/frameworks"
    data = {"file": (io.BytesIO(text.encode("utf-8")), filename), "text": ""}
    response = browser.post(url, data)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.location == url
    return browser.get(url).get_data(as_text=True)


def framework_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(FrameworkVersion)) or 0


def framework_events(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "framework.add")))


def test_the_trust_page_links_to_its_frameworks_with_their_question_counts(
    signed_in: SignedIn,
) -> None:
    browser, _, trust = signed_in
    url = f"/admin/trusts/{trust.slug}/frameworks"
    assert f'href="{url}">Frameworks</a>' in browser.get(f"/admin/trusts/{trust.slug}").text
    page = browser.get(url).get_data(as_text=True)
    assurance = fw.load_builtin("mat-assurance")
    row = page[page.index('id="framework-mat-assurance"') :].split("</tr>")[0]
    assert "MAT Assurance" in row and "Built in" in row
    assert "42 questions over 14 elements" in row  # to start with
    assert "76 questions over 14 elements" in row  # all
    assert assurance.version in row
    assert f'href="{url}/mat-assurance"' in row
    row = page[page.index('id="framework-mat-characteristics-2015"') :].split("</tr>")[0]
    assert "10 elements, no questions" in row  # rated on each element's descriptors
    # The form to add one: a labelled file input and a labelled text area, the format in words.
    assert '<label for="file">' in page and '<label for="text">' in page
    assert 'enctype="multipart/form-data"' in page
    assert "framework/README.md" in page


def test_the_preview_shows_what_a_respondent_would_be_asked_for_each_scope(
    signed_in: SignedIn,
) -> None:
    browser, _, trust = signed_in
    url = f"/admin/trusts/{trust.slug}/frameworks/mat-assurance"

    start = browser.get(f"{url}?scope=start").get_data(as_text=True)
    assert "Questions to start with: 42 questions over 14 elements" in start
    assert start.count('<section class="element"') == 14
    assert start.count('<span class="tag">to start with</span>') == 42
    assert '<span class="tag">additional</span>' not in start
    assert "<h2>1. Vision, culture and ethos</h2>" in start
    assert "Vision for the MAT · Link to strategy · Roles and responsibilities" in start  # 1A focus
    assert "Red looks like" in start and "Green looks like" in start
    assert 'aria-current="page">Questions to start with</a>' in start
    # With no scope, the page shows the questions to start with.
    assert browser.get(url).get_data(as_text=True).count("to start with</span>") == 42

    everything = browser.get(f"{url}?scope=all").get_data(as_text=True)
    assert "All questions: 76 questions over 14 elements" in everything
    assert everything.count('<span class="tag">additional</span>') == 34

    some = browser.get(f"{url}?scope=2b,1a").get_data(as_text=True)
    assert "Elements 1A, 2B:" in some
    assert re.findall(r'id="element-([0-9A-Z]+)"', some) == ["1A", "2B"]
    assert 'value="2b,1a"' in some  # the codes as typed, ready to change

    bad = browser.get(f"{url}?scope=1A,9Z")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "There is a problem" in text and "Unknown element code 9Z" in text
    assert 'value="1A,9Z"' in text and 'aria-invalid="true"' in text
    assert '<section class="element"' not in text

    assert browser.get(f"/admin/trusts/{trust.slug}/frameworks/no-such-thing").status_code == 404


def test_a_good_file_is_stored_for_that_trust_only_and_offered_in_its_cycle_form(
    two_trusts: TwoTrusts, session: Session
) -> None:
    browser, admin, oak, elm = two_trusts
    example = page_example(browser, oak)
    expected = fw.load_text(example)
    assert expected.key == OUR_KEY
    before = framework_rows(session)

    page = upload(browser, oak, example)
    assert f"“Our trust review” loaded for {oak.name}: 2 questions over 1 element," in page
    assert "It is now offered in the new-cycle form." in page
    row = page[page.index(f'id="framework-{OUR_KEY}"') :].split("</tr>")[0]
    assert "This trust\u2019s own" in row and "1 question over 1 element" in row
    assert "2 questions over 1 element" in row and expected.version in row

    stored = session.scalars(select(FrameworkVersion).where(FrameworkVersion.key == OUR_KEY)).one()
    # The file's exact text, so its version is the one `mat-review framework add` would give.
    assert (stored.trust_id, stored.version, stored.is_builtin) == (oak.id, expected.version, False)
    assert stored.source_text == example
    [event] = framework_events(session)
    assert (event.actor, event.trust_id) == (admin.email, oak.id)
    assert event.detail == f"{OUR_KEY} version {expected.version}"
    audit = browser.get(f"/admin/trusts/{oak.slug}/audit").text
    assert "framework.add" in audit and event.detail in audit

    option = f'<option value="{OUR_KEY}"'
    assert option in browser.get(f"/admin/trusts/{oak.slug}/cycles/new").text
    assert option not in browser.get(f"/admin/trusts/{elm.slug}/cycles/new").text
    assert (
        f'id="framework-{OUR_KEY}"' not in browser.get(f"/admin/trusts/{elm.slug}/frameworks").text
    )
    assert browser.get(f"/admin/trusts/{elm.slug}/frameworks/{OUR_KEY}").status_code == 404
    preview = browser.get(f"/admin/trusts/{oak.slug}/frameworks/{OUR_KEY}?scope=all").text
    assert "All questions: 2 questions over 1 element" in preview
    assert "How well do staff in every school understand the vision?" in preview

    # A cycle can be set up with it for this trust, and not for the other one.
    form = cycle_form(framework=OUR_KEY, scope="all")
    response = browser.post(f"/admin/trusts/{oak.slug}/cycles/new", form)
    assert response.status_code == 303
    cycle = session.scalars(select(Cycle)).one()
    assert (cycle.framework_key, cycle.framework_version) == (OUR_KEY, expected.version)
    refused = browser.post(f"/admin/trusts/{elm.slug}/cycles/new", form)
    assert refused.status_code == 422
    assert f"Unknown framework &#39;{OUR_KEY}&#39;" in refused.text

    # The same file again changes nothing; the other trust cannot take over the identical text.
    again = upload(browser, oak, example)
    assert "is already loaded in exactly this version" in again
    response = browser.post(f"/admin/trusts/{elm.slug}/frameworks", {"text": example})
    assert response.status_code == 422
    assert "is already in use: give your file another key" in response.text
    assert framework_rows(session) == before + 1
    assert len(framework_events(session)) == 1

    # A changed file with the same key is a new version; the cycle keeps the one it pinned.
    changed = example.replace("Our trust review", "Our trust review, 2027")
    assert "“Our trust review, 2027” loaded" in upload(browser, oak, changed)
    assert framework_rows(session) == before + 2
    session.refresh(cycle)
    assert cycle.framework_version == expected.version


def test_a_bad_file_is_rejected_with_its_line_and_reason_and_the_text_is_kept(
    signed_in: SignedIn, session: Session
) -> None:
    browser, _, trust = signed_in
    url = f"/admin/trusts/{trust.slug}/frameworks"
    example = page_example(browser, trust)
    before = framework_rows(session)
    bad = example.replace("stage: additional", "stage: later")
    line = bad.splitlines().index("        stage: later") + 1

    response = browser.post(url, {"text": bad.replace("\n", "\r\n")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "There is a problem: nothing has been saved" in page
    message = (
        f"pasted text:{line}: elements[0].questions[1].stage: unknown stage &#39;later&#39; "
        "(expected start or additional)"
    )
    assert f'<a href="#text">{message}</a>' in page
    assert f"Line {line} reads: <code" in page and ">        stage: later</code>" in page
    textarea = page[page.index('<textarea id="text"') :].split("</textarea>")[0]
    assert html.escape(bad, quote=False).replace("\n", "\r\n") in textarea
    assert 'aria-invalid="true"' in textarea

    # A file is named by its file name, and a YAML slip is reported the same way.
    broken = example.replace("title: Our trust review", "title: [Our trust review")
    response = browser.post(
        url, {"file": (io.BytesIO(broken.encode()), "C:\\Users\\ceo\\ours.yaml")}
    )
    assert response.status_code == 422
    assert "ours.yaml:3: document: YAML syntax error" in response.text  # where PyYAML noticed
    assert "title: [Our trust review" in response.text  # the file's text, ready to correct

    latin1 = example.replace("Clarity of purpose", "Clarté").encode("latin-1")
    line = example.splitlines().index("    title: Clarity of purpose") + 1
    response = browser.post(url, {"file": (io.BytesIO(latin1), "ours.yaml")})
    assert response.status_code == 422
    assert f"ours.yaml:{line}: document: file is not UTF-8 text" in response.text

    empty = browser.post(url, {"text": "  \r\n"})
    assert empty.status_code == 422
    assert '<a href="#file">Choose a framework file or paste its text.</a>' in empty.text

    assert framework_rows(session) == before
    assert framework_events(session) == []


def test_a_built_in_key_is_refused(signed_in: SignedIn, session: Session) -> None:
    browser, _, trust = signed_in
    url = f"/admin/trusts/{trust.slug}/frameworks"
    before = framework_rows(session)
    refusal = "&#39;mat-assurance&#39; is the key of a built-in framework"
    # A copy of the built-in file itself, byte for byte, and a file of its own under that key.
    builtin_text = fw.builtin_path("mat-assurance").read_bytes()
    response = browser.post(url, {"file": (io.BytesIO(builtin_text), "mat-assurance.yaml")})
    assert response.status_code == 422
    assert refusal in response.text
    own = page_example(browser, trust).replace(f"key: {OUR_KEY}", "key: mat-assurance")
    response = browser.post(url, {"text": own})
    assert response.status_code == 422
    assert refusal in response.text and "give your file a key of its own" in response.text
    assert framework_rows(session) == before
    assert framework_events(session) == []


def test_another_trusts_admin_gets_404(
    browser: Browser,
    make_admin: Callable[..., AdminUser],
    make_trust: Callable[..., Trust],
    session: Session,
) -> None:
    oak, elm = make_trust("Oak Learning Trust"), make_trust("Elm Academies")
    make_admin("ceo@elm.example", trusts=[elm])
    browser.sign_in("ceo@elm.example")
    example = page_example(browser, elm)
    before = framework_rows(session)
    assert browser.get(f"/admin/trusts/{oak.slug}/frameworks").status_code == 404
    assert browser.get(f"/admin/trusts/{oak.slug}/frameworks/mat-assurance").status_code == 404
    response = browser.post(
        f"/admin/trusts/{oak.slug}/frameworks",
        {"text": example},
        page=f"/admin/trusts/{elm.slug}/frameworks",
    )
    assert response.status_code == 404
    assert framework_rows(session) == before


def test_adding_a_framework_needs_the_forms_csrf_token(
    signed_in: SignedIn, session: Session
) -> None:
    browser, _, trust = signed_in
    example = page_example(browser, trust)
    before = framework_rows(session)
    response = browser.client.post(f"/admin/trusts/{trust.slug}/frameworks", data={"text": example})
    assert response.status_code == 400
    assert framework_rows(session) == before
    assert framework_events(session) == []
