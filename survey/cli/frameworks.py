"""`mat-review framework list|add|show`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

import framework as fw
from survey.cli.common import user_errors
from survey.db import db
from survey.errors import UserError
from survey.services import cycles as cycle_service
from survey.services.frameworks import (
    add_framework_file,
    get_current_version,
    get_framework,
    list_framework_versions,
)

framework_group = AppGroup("framework", help="Frameworks (the questions a cycle asks).")


@framework_group.command("list")
@user_errors
def framework_list_command() -> None:
    """List the frameworks available for new cycles."""
    rows = list_framework_versions(db.session)
    if not rows:
        raise UserError("no frameworks loaded yet: run `mat-review init`")
    for row in rows:
        loaded = get_framework(db.session, row.key, row.version)
        kind = "built-in" if row.is_builtin else "custom"
        click.echo(
            f"{row.key}\t{row.title}\t{len(loaded.elements)} elements, "
            f"{loaded.question_count(fw.parse_scope('all'))} questions\t{kind}\t"
            f"version {row.version}"
        )


@framework_group.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trust_slug", help="Offer it to this trust only.")
@user_errors
def framework_add_command(file: Path, trust_slug: str | None) -> None:
    """Validate and load a framework file of a trust's own."""
    if not file.exists():
        raise UserError(f"{file}: no such file")
    trust = cycle_service.get_trust(db.session, trust_slug) if trust_slug else None
    loaded = add_framework_file(db.session, file, trust)
    click.echo(
        f"framework {loaded.key} ({loaded.title}) loaded: {len(loaded.elements)} elements, "
        f"version {loaded.version}"
    )


@framework_group.command("show")
@click.argument("key")
@click.option("--scope", default="all", show_default=True, help="start, all, or codes like 1A,2B")
@user_errors
def framework_show_command(key: str, scope: str) -> None:
    """Print what a respondent would be asked."""
    row = get_current_version(db.session, key)
    loaded = get_framework(db.session, row.key, row.version)
    try:
        parsed = fw.parse_scope(scope)
        loaded.validate_scope(parsed)
    except fw.FrameworkError as exc:
        raise UserError(str(exc)) from None
    elements = loaded.elements_in_scope(parsed)
    click.echo(f"{loaded.title} (version {loaded.version}), scope {parsed}")
    click.echo(
        "Scale: "
        + ", ".join(f"{level.label} ({level.score})" for level in loaded.scale.levels)
        + ", Don't know / not enough evidence"
    )
    heading = None
    for element in elements:
        if element.heading != heading:
            heading = element.heading
            title = next(h.title for h in loaded.headings if h.number == heading)
            click.echo(f"\n{heading}. {title}")
        focus = f" ({', '.join(element.focus)})" if element.focus else ""
        click.echo(f"  {element.code}. {element.title}{focus}")
        for question in element.questions_for(parsed):
            click.echo(f"    {question.number}. [{question.stage}] {question.text}")
    questions = sum(len(e.questions_for(parsed)) for e in elements)
    click.echo(f"\n{questions} questions under {len(elements)} elements")
