"""The command line as SPEC section 10 describes it, on both databases."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey.models import AdminUser, AuditEvent, Cycle, CycleState, Invitation

BIN = Path(sys.executable).parent


def last_word(output: str) -> str:
    return output.strip().split()[-1]


def people_csv(n: int, bad: dict[int, str] | None = None) -> str:
    """n people over the three default groups; `bad` replaces data row i (1-based) verbatim."""
    groups = ["executive", "headteacher", "middle-leader"]
    lines = ["email,name,group,school"]
    for i in range(1, n + 1):
        if bad and i in bad:
            lines.append(bad[i])
        else:
            lines.append(f"person{i}@oak.example,Person {i},{groups[i % 3]},School {i % 7}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def cycle_id(runner) -> str:
    result = runner.invoke(args=["trust", "add", "Oak Learning Trust"])
    assert result.exit_code == 0, result.output
    slug = last_word(result.output)
    assert slug == "oak-learning-trust"
    result = runner.invoke(
        args=[
            "cycle",
            "create",
            "--trust",
            slug,
            "--title",
            "Autumn 2026",
            "--opens",
            "2030-01-05T09:00",
            "--closes",
            "2030-01-20",
            "--report-to",
            "ceo@oak.example",
        ]
    )
    assert result.exit_code == 0, result.output
    return last_word(result.output)


def test_cycle_create_uses_default_groups_and_trust_time_zone(runner, session, cycle_id) -> None:
    result = runner.invoke(args=["cycle", "status", cycle_id, "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["state"] == "draft"
    assert [g["key"] for g in status["groups"]] == ["executive", "headteacher", "middle-leader"]
    assert status["groups"][0]["label"] == "Executive leaders and chair"
    # 09:00 in London in January is 09:00 UTC; shown in the trust's zone.
    assert status["opens_at"] == "2030-01-05T09:00:00+00:00"
    assert status["framework"] == "mat-assurance"
    assert status["min_group_size"] == 3 and status["min_comment_group_size"] == 5


def test_recipients_all_good_are_saved_and_counted(runner, session, cycle_id, tmp_path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(people_csv(50))
    result = runner.invoke(args=["cycle", "recipients", cycle_id, str(path)])
    assert result.exit_code == 0, result.output
    assert "50 invitations" in result.output
    status = json.loads(runner.invoke(args=["cycle", "status", cycle_id, "--json"]).output)
    assert [g["invited"] for g in status["groups"]] == [16, 17, 17]
    assert status["totals"]["invited"] == 50


def test_three_bad_rows_among_fifty_are_all_listed_and_nothing_saved(
    runner, session, cycle_id, tmp_path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        people_csv(
            50,
            bad={
                7: "not-an-email,Someone,headteacher,",
                23: "x23@oak.example,Someone,governor,",
                41: "person2@oak.example,Duplicate,executive,",
            },
        )
    )
    result = runner.invoke(args=["cycle", "recipients", cycle_id, str(path)])
    assert result.exit_code == 1
    # Data row i is on line i + 1 (the header is line 1).
    assert "line 8:" in result.output
    assert "line 24:" in result.output and "unknown group 'governor'" in result.output
    assert "line 42:" in result.output and "appears twice (also on line 3)" in result.output
    assert "nothing saved" in result.output
    assert "Traceback" not in result.output
    count = session.scalar(select(func.count()).select_from(Invitation))
    assert count == 0


def test_excel_export_with_bom_semicolons_and_crlf_is_read(
    runner, session, cycle_id, tmp_path
) -> None:
    path = tmp_path / "excel.csv"
    rows = [
        "Email;Name;Group;School",
        "a@oak.example;Ann Able;headteacher;Elm Primary",
        "b@oak.example;;executive;",
        "c@OAK.example;Cal Case;middle-leader;Ash Academy",
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    result = runner.invoke(args=["cycle", "recipients", cycle_id, str(path)])
    assert result.exit_code == 0, result.output
    invitations = session.scalars(select(Invitation).order_by(Invitation.id)).all()
    assert [i.email for i in invitations] == ["a@oak.example", "b@oak.example", "c@oak.example"]
    assert invitations[0].school == "Elm Primary"
    assert invitations[1].name is None  # blank names are allowed
    # Adding the same person again is refused as a duplicate of an existing invitation.
    again = tmp_path / "again.csv"
    again.write_text("email,name,group\nA@oak.example,Ann,headteacher\n")
    result = runner.invoke(args=["cycle", "recipients", cycle_id, str(again)])
    assert result.exit_code == 1
    assert "already invited" in result.output


def test_user_errors_exit_1_with_one_line_and_bad_usage_exits_2(runner, cycle_id) -> None:
    for args, expected in [
        (["cycle", "status", "999"], "no cycle 999"),
        (["cycle", "launch", cycle_id], "no invitations"),
        (["cycle", "close", cycle_id], "it is draft"),
        (["trust", "add", "X", "--timezone", "Mars/Base"], "unknown time zone"),
        (
            [
                "cycle",
                "create",
                "--trust",
                "nope",
                "--title",
                "t",
                "--opens",
                "2030-01-01",
                "--closes",
                "2030-02-01",
            ],
            "no trust with slug 'nope'",
        ),
        (["cycle", "extend", cycle_id, "--closes", "not-a-date"], "not an ISO date"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    result = runner.invoke(args=["cycle", "create", "--title", "missing trust"])
    assert result.exit_code == 2


def test_cycle_create_validates_settings(runner, cycle_id) -> None:
    base = [
        "cycle",
        "create",
        "--trust",
        "oak-learning-trust",
        "--title",
        "T",
        "--opens",
        "2030-01-05",
        "--closes",
        "2030-01-20",
    ]
    cases = [
        (["--min-group-size", "2"], "must be 3 or more"),
        (["--scope", "1A,9Z"], "9Z"),
        (["--group", "bad key:Label"], "group key"),
        (["--group", "all:Everyone"], "reserved"),
        (["--report-to", "nobody"], "not a valid email"),
        (["--framework", "nope"], "unknown framework"),
        (["--previous", "4242"], "not a cycle of this trust"),
    ]
    for extra, expected in cases:
        result = runner.invoke(args=base + extra)
        assert result.exit_code == 1, (extra, result.output)
        assert expected in result.output, (extra, result.output)
    closes_first = [
        "cycle",
        "create",
        "--trust",
        "oak-learning-trust",
        "--title",
        "T",
        "--opens",
        "2030-02-05",
        "--closes",
        "2030-01-20",
    ]
    result = runner.invoke(args=closes_first)
    assert result.exit_code == 1 and "after the open date" in result.output


def test_custom_groups_scope_and_launch(runner, session, tmp_path) -> None:
    slug = last_word(
        runner.invoke(args=["trust", "add", "Elm Trust", "--timezone", "Europe/London"]).output
    )
    result = runner.invoke(
        args=[
            "cycle",
            "create",
            "--trust",
            slug,
            "--title",
            "Spring",
            "--opens",
            "2020-01-01",
            "--closes",
            "2099-01-01",
            "--scope",
            "start",
            "--group",
            "executive:Executive team:open",
            "--group",
            "trustee:Trustees",
            "--report-to",
            "ceo@elm.example,chair@elm.example",
        ]
    )
    assert result.exit_code == 0, result.output
    cid = last_word(result.output)
    path = tmp_path / "p.csv"
    path.write_text("email,name,group\nx@elm.example,X,executive\ny@elm.example,Y,trustee\n")
    assert runner.invoke(args=["cycle", "recipients", cid, str(path)]).exit_code == 0
    result = runner.invoke(args=["cycle", "launch", cid])
    assert result.exit_code == 0, result.output
    cycle = session.get(Cycle, int(cid))
    session.refresh(cycle)
    # The open date has passed, so launching opens it at once.
    assert cycle.state == CycleState.OPEN
    assert cycle.scope == "start"
    assert [(g.key, g.is_open) for g in cycle.groups] == [("executive", True), ("trustee", False)]
    assert cycle.report_recipient_list == ["ceo@elm.example", "chair@elm.example"]
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["recipients.add", "cycle.launch", "cycle.open"]


def test_create_admin_generates_a_password_once(runner, session, monkeypatch) -> None:
    monkeypatch.delenv("MAT_REVIEW_ADMIN_PASSWORD", raising=False)
    result = runner.invoke(args=["create-admin", "CEO@Oak.Example"])
    assert result.exit_code == 0, result.output
    assert "password (shown once):" in result.output
    admin = session.scalar(select(AdminUser))
    assert admin is not None and admin.email == "CEO@oak.example" and admin.is_superuser
    assert admin.password_hash.startswith("scrypt:")
    assert last_word(result.output) not in admin.password_hash
    again = runner.invoke(args=["create-admin", "CEO@oak.example"])
    assert again.exit_code == 1 and "already exists" in again.output
    monkeypatch.setenv("MAT_REVIEW_ADMIN_PASSWORD", "long-enough-password")
    result = runner.invoke(args=["create-admin", "head@oak.example"])
    assert result.exit_code == 0 and "shown once" not in result.output
    monkeypatch.setenv("MAT_REVIEW_ADMIN_PASSWORD", "short")
    result = runner.invoke(args=["create-admin", "x@oak.example"])
    assert result.exit_code == 1 and "at least 10 characters" in result.output


def test_a_forgotten_password_is_reset_and_old_sessions_end(
    client, runner, session, monkeypatch
) -> None:
    monkeypatch.setenv("MAT_REVIEW_ADMIN_PASSWORD", "first-password-123")
    assert runner.invoke(args=["create-admin", "ceo@oak.example"]).exit_code == 0
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    signed_in = client.post(
        "/admin/login",
        data={
            "csrf_token": token.group(1),
            "email": "ceo@oak.example",
            "password": "first-password-123",
        },
    )
    assert signed_in.status_code in (302, 303)
    assert client.get("/admin/").status_code == 200

    result = runner.invoke(args=["create-admin", "nobody@oak.example", "--reset-password"])
    assert result.exit_code == 1 and "no admin" in result.output
    monkeypatch.setenv("MAT_REVIEW_ADMIN_PASSWORD", "second-password-456")
    result = runner.invoke(args=["create-admin", "ceo@oak.example", "--reset-password"])
    assert result.exit_code == 0, result.output
    # The session opened with the old password has ended.
    assert client.get("/admin/").status_code in (302, 303)
    actions = session.scalars(select(AuditEvent.action)).all()
    assert "admin.password-reset" in actions


def test_console_script_end_to_end(fresh_database_url: str, tmp_path: Path) -> None:
    """The installed `mat-review` command, as a person would type it, on an empty database."""
    env = {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": fresh_database_url,
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    env.pop("MAT_REVIEW_SECRET_KEY", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "mat-review"), *args], env=env, capture_output=True, text=True, timeout=60
        )

    assert run("init").returncode == 0
    second = run("init")
    assert second.returncode == 0, second.stderr
    slug = last_word(run("trust", "add", "Oak Learning Trust").stdout)
    created = run(
        "cycle",
        "create",
        "--trust",
        slug,
        "--title",
        "Autumn",
        "--opens",
        "2030-01-05",
        "--closes",
        "2030-01-20",
        "--report-to",
        "ceo@oak.example",
    )
    assert created.returncode == 0, created.stderr
    cid = last_word(created.stdout)
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(people_csv(12))
    assert run("cycle", "recipients", cid, str(csv_path)).returncode == 0
    status = run("cycle", "status", cid, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["totals"]["invited"] == 12
    bad = run("cycle", "status", "nope")
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    assert (tmp_path / "instance" / "secret_key").exists()


def test_an_uninitialised_database_gets_one_line_not_a_traceback(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": fresh_database_url,
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    for args in (["trust", "add", "Oak"], ["cycle", "status", "1", "--json"], ["jobs", "run-once"]):
        done = subprocess.run(
            [str(BIN / "mat-review"), *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert "database error" in done.stderr, (args, done.stderr)


def test_framework_add_refuses_a_copy_of_a_built_in_file(runner, tmp_path: Path) -> None:
    import framework as fw

    copy = tmp_path / "copy.yaml"
    copy.write_text(fw.builtin_path("mat-assurance").read_text())
    result = runner.invoke(args=["framework", "add", str(copy)])
    assert result.exit_code == 1 and "built-in framework" in result.output
    own = tmp_path / "own.yaml"
    own.write_text(copy.read_text().replace("key: mat-assurance", "key: oak-own", 1))
    result = runner.invoke(args=["framework", "add", str(own)])
    assert result.exit_code == 0, result.output
    assert "oak-own" in runner.invoke(args=["framework", "list"]).output


def test_addresses_reaching_one_mailbox_are_duplicates_and_late_additions_are_named(
    runner, session, cycle_id, tmp_path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("email,name,group\nAnn.Lee@oak.example,Ann Lee,headteacher\n")
    assert runner.invoke(args=["cycle", "recipients", cycle_id, str(first)]).exit_code == 0
    assert runner.invoke(args=["cycle", "launch", cycle_id]).exit_code == 0  # opens in 2030
    late = tmp_path / "late.csv"
    late.write_text(
        "email,name,group\n"
        "ann.lee+review@OAK.example,Ann again,headteacher\n"
        "zed@oak.example,Zed Late,headteacher\n"
        "Zed+1@oak.example,Zed twice,executive\n"
    )
    result = runner.invoke(args=["cycle", "recipients", cycle_id, str(late)])
    assert result.exit_code == 1
    assert (
        "line 2: ann.lee+review@oak.example reaches the same mailbox as Ann.Lee@oak.example, "
        "who is already invited to this cycle"
    ) in result.output
    assert "line 4: Zed+1@oak.example reaches the same mailbox as zed@oak.example on line 3" in (
        result.output
    )
    late.write_text("email,name,group\nzed@oak.example,Zed Late,headteacher\n")
    result = runner.invoke(args=["cycle", "recipients", cycle_id, str(late)])
    assert result.exit_code == 0, result.output
    # Stored as typed; the person added after launch is named in the audit log.
    emails = session.scalars(select(Invitation.email).order_by(Invitation.id)).all()
    assert emails == ["Ann.Lee@oak.example", "zed@oak.example"]
    named = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "invitation.add-after-launch")
    ).all()
    assert named == ["Zed Late <zed@oak.example> to Headteachers"]
