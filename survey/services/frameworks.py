"""Frameworks in the database: built-in files are registered by `init`, a trust's own by
`framework add` or the trust's frameworks page (whose upload is decoded here); a cycle pins
(key, version) and is always read back from the stored text."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import NotFound, UserError
from survey.models import Cycle, FrameworkVersion, Trust
from survey.services.audit import record_event

DEFAULT_FRAMEWORK = "mat-assurance"


def register_framework(
    session: Session, loaded: fw.Framework, *, builtin: bool = False, trust: Trust | None = None
) -> tuple[FrameworkVersion, bool]:
    """Store a framework version unless that exact text is already stored; (row, created).

    A file of one's own (not `builtin`) must have a key of its own, even if it copies a
    built-in file.
    """
    if not builtin and is_builtin_key(session, loaded.key):
        raise UserError(
            f"{loaded.key!r} is the key of a built-in framework: give your file a key of its "
            "own (the key: line at the top)"
        )
    existing = session.scalar(
        select(FrameworkVersion).where(
            FrameworkVersion.key == loaded.key, FrameworkVersion.version == loaded.version
        )
    )
    if existing is not None:
        return existing, False
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
    """`mat-review framework add`: validate a file and offer it to one trust, or to all."""
    try:
        loaded = fw.load_path(path)
    except fw.FrameworkError as exc:
        raise UserError(str(exc)) from exc
    register_framework(session, loaded, trust=trust)
    return loaded


def is_builtin_key(session: Session, key: str) -> bool:
    """Whether `key` names a built-in framework (a file shipped now, or one registered before)."""
    if key in fw.builtin_keys():
        return True
    query = select(FrameworkVersion.id).where(
        FrameworkVersion.key == key, FrameworkVersion.is_builtin.is_(True)
    )
    return session.scalar(query.limit(1)) is not None


def add_trust_framework(
    session: Session, trust: Trust, text: str, source: str, actor: str
) -> tuple[fw.Framework, bool]:
    """Validate a trust's own framework text and offer it to that trust only: (framework,
    created); created is False when this exact text is already available to the trust.

    Raises `fw.FrameworkError` (the loader's one line: source, line, key path, reason) for a bad
    file, and `UserError` for a key the trust cannot use.
    """
    loaded = fw.load_text(text, source=source)
    row, created = register_framework(session, loaded, trust=trust)
    if row.trust_id is not None and row.trust_id != trust.id:
        # (key, version) is unique, so the identical text held by another trust cannot be
        # stored twice; a different key makes it a different framework.
        raise UserError(f"the key {loaded.key!r} is already in use: give your file another key")
    if created:
        record_event(
            session,
            actor,
            "framework.add",
            trust=trust,
            detail=f"{loaded.key} version {loaded.version}",
        )
    return loaded, created


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
    raise UserError(
        f"unknown framework {key!r} (known: {known}; run `mat-review init` first)",
        field="framework",
    )


_PARSED: dict[tuple[str, str], fw.Framework] = {}


def get_cached_framework(key: str, version: str) -> fw.Framework | None:
    """The framework a cycle pinned, without asking the database: parsed earlier in this
    process, or a built-in file whose text is that very version. None otherwise."""
    cached = _PARSED.get((key, version))
    if cached is None and key in fw.builtin_keys():
        builtin = fw.load_builtin(key)
        if builtin.version == version:
            cached = _PARSED.setdefault((key, version), builtin)
    return cached


def get_framework(session: Session, key: str, version: str) -> fw.Framework:
    """The framework exactly as a cycle pinned it (parsed once per process: a version is a hash
    of its text, so it never changes)."""
    cached = get_cached_framework(key, version)
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


def get_cycle_framework(session: Session, cycle: Cycle) -> fw.Framework:
    return get_framework(session, cycle.framework_key, cycle.framework_version)


def get_cycle_scope(cycle: Cycle) -> fw.Scope:
    return fw.parse_scope(cycle.scope)


# The built-in MAT Assurance file is about 53 KB; a trust's own file has no reason to be much
# bigger, and the limit keeps a stray upload from being parsed at all.
MAX_FRAMEWORK_BYTES = 512 * 1024


def get_trust_framework(session: Session, trust: Trust, key: str) -> fw.Framework:
    """The newest version of `key` that the trust can use; NotFound for any other key (another
    trust's own framework included)."""
    try:
        row = get_current_version(session, key, trust)
    except UserError:
        raise NotFound(f"no framework {key!r}") from None
    return get_framework(session, row.key, row.version)


def read_framework_upload(data: bytes | str, source: str) -> str:
    """The text of an uploaded file (bytes, kept exactly, so its version is the one `mat-review
    framework add` gives the same file) or of pasted text (str). Raises `fw.FrameworkError`."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > MAX_FRAMEWORK_BYTES:
        raise fw.FrameworkError(
            f"too large ({size // 1024} KB; the limit is {MAX_FRAMEWORK_BYTES // 1024} KB)",
            source=source,
            path="file",
        )
    if isinstance(data, str):
        # Browsers send a textarea's line breaks as CRLF whatever was pasted: store LF, as a
        # file saved by an editor would have.
        return data.replace("\r\n", "\n")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise fw.FrameworkError(
            "file is not UTF-8 text (save it as UTF-8)", source=source, line=line, path="document"
        ) from None
    return text.removeprefix("\ufeff")
