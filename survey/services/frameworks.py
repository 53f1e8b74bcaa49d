"""Frameworks in the database: built-in files are registered by `init`, a trust's own by
`framework add`; a cycle pins (key, version) and is always read back from the stored text."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import UserError
from survey.models import FrameworkVersion, Trust

DEFAULT_FRAMEWORK = "mat-assurance"


def register_framework(
    session: Session, loaded: fw.Framework, *, builtin: bool = False, trust: Trust | None = None
) -> tuple[FrameworkVersion, bool]:
    """Store a framework version unless that exact text is already stored; (row, created)."""
    existing = session.scalar(
        select(FrameworkVersion).where(
            FrameworkVersion.key == loaded.key, FrameworkVersion.version == loaded.version
        )
    )
    if existing is not None:
        return existing, False
    if not builtin:
        builtin_row = session.scalar(
            select(FrameworkVersion).where(
                FrameworkVersion.key == loaded.key, FrameworkVersion.is_builtin.is_(True)
            )
        )
        if builtin_row is not None:
            raise UserError(f"{loaded.key!r} is a built-in framework; give your file another key")
    row = FrameworkVersion(
        key=loaded.key,
        version=loaded.version,
        title=loaded.title,
        source_text=loaded.source_text,
        is_builtin=builtin,
        trust_id=trust.id if trust is not None else None,
    )
    session.add(row)
    session.flush()
    return row, True


def sync_builtin_frameworks(session: Session) -> list[str]:
    """Register the current text of every built-in framework; returns the keys newly stored."""
    added = []
    for key in fw.builtin_keys():
        _, created = register_framework(session, fw.load_builtin(key), builtin=True)
        if created:
            added.append(key)
    return added


def add_framework_file(
    session: Session, path: str | Path, trust: Trust | None = None
) -> fw.Framework:
    try:
        loaded = fw.load_path(path)
    except fw.FrameworkError as exc:
        raise UserError(str(exc)) from exc
    register_framework(session, loaded, trust=trust)
    return loaded


def list_framework_versions(session: Session, trust: Trust | None = None) -> list[FrameworkVersion]:
    """The newest version of each framework available (to a trust, if given)."""
    query = select(FrameworkVersion).order_by(FrameworkVersion.key, FrameworkVersion.id.desc())
    if trust is not None:
        query = query.where(
            or_(FrameworkVersion.trust_id.is_(None), FrameworkVersion.trust_id == trust.id)
        )
    newest: dict[str, FrameworkVersion] = {}
    for row in session.scalars(query):
        newest.setdefault(row.key, row)
    return list(newest.values())


def get_current_version(session: Session, key: str, trust: Trust | None = None) -> FrameworkVersion:
    for row in list_framework_versions(session, trust):
        if row.key == key:
            return row
    known = ", ".join(r.key for r in list_framework_versions(session, trust)) or "none"
    raise UserError(f"unknown framework {key!r} (known: {known}; run `mat-review init` first)")


_PARSED: dict[tuple[str, str], fw.Framework] = {}


def get_framework(session: Session, key: str, version: str) -> fw.Framework:
    """The framework exactly as a cycle pinned it (parsed once per process: a version is a hash
    of its text, so it never changes)."""
    cached = _PARSED.get((key, version))
    if cached is not None:
        return cached
    row = session.scalar(
        select(FrameworkVersion).where(
            FrameworkVersion.key == key, FrameworkVersion.version == version
        )
    )
    if row is None:
        raise UserError(f"framework {key} version {version} is not in the database")
    loaded = fw.load_text(row.source_text, source=f"{key}@{version}")
    _PARSED[(key, version)] = loaded
    return loaded
