"""Configuration: one typed `Settings`, built once from code defaults, then `MAT_REVIEW_*`
environment variables, then a test's mapping, and coerced once.

Every part of the service reads `get_settings()` (stored in `app.extensions["settings"]`); no
read site restates a default or casts. A value that cannot be coerced (`MAIL_BATCH_SIZE=abc`, a
negative interval) stops start-up with `ConfigError`, one line naming the variable. The keys that
Flask and its extensions read themselves (SECRET_KEY, SESSION_*, WTF_*, RATELIMIT_*,
MAX_CONTENT_LENGTH, PERMANENT_SESSION_LIFETIME) are written into `app.config` from the settings;
the other settings are copied there too, for reading only: to change one in a test, use
`update_settings`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from flask.config import Config
from limits import parse as parse_limit

from survey.errors import UserError

ENV_PREFIX = "MAT_REVIEW"

Check = Callable[[Any], str | None]  # a message saying what is wrong with the value, or None


class ConfigError(UserError):
    """A setting's value cannot be used; the message names the variable, in one line."""


def _at_least(minimum: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {minimum:g}"

    return check


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be more than 0"


def _one_of(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _rate_limit(value: Any) -> str | None:
    try:
        parse_limit(value)
    except ValueError:
        return "must be a rate limit such as 10/minute"
    return None


def _setting(default: Any, check: Check | None = None) -> Any:
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True)
class Settings:
    """Every setting, with its type and default. Each field `name` is set by the variable
    `MAT_REVIEW_<NAME>` (or the key `<NAME>` of a test's mapping); README's table lists them."""

    database_url: str = ""  # sqlite:///<instance>/mat-review.sqlite3
    secret_key: str = ""  # generated once into <instance>/secret_key
    # Old keys, still accepted after rotation; comma-separated in the environment.
    secret_key_fallbacks: tuple[str, ...] = ()
    mail_url: str = ""  # file://<instance>/outbox
    mail_from: str = _setting("mat-review@localhost")
    base_url: str = _setting("http://127.0.0.1:5000")  # kept without a trailing slash
    ratelimit_storage_url: str = _setting("memory://")  # becomes RATELIMIT_STORAGE_URI
    # Keeps deployments that share one Redis apart (Flask-Limiter reads it too).
    ratelimit_key_prefix: str = _setting("")
    # Failed personal-link lookups counted per client address (survey/respond/views.py).
    invalid_link_rate_limit: str = _setting("10/minute", _rate_limit)
    # The Microsoft 365 default limit; 0 turns the limit off.
    mail_rate_per_minute: float = _setting(30.0, _at_least(0))
    mail_batch_size: int = _setting(50, _at_least(1))
    # Invitations and reminders; a report email is never given up.
    mail_max_attempts: int = _setting(8, _at_least(1))
    mail_timeout: float = _setting(30.0, _positive)  # seconds for each socket operation
    mail_message_seconds: float = _setting(120.0, _positive)  # one message, connecting included
    mail_run_seconds: float = _setting(300.0, _positive)  # one dispatch run; the rest wait
    mail_claim_seconds: float = _setting(300.0, _positive)  # a dispatcher's claim on a row
    mail_retry_seconds: float = _setting(120.0, _positive)  # first retry; doubles per attempt
    mail_retry_max_seconds: float = _setting(3600.0, _positive)  # the longest retry delay
    jobs_interval_seconds: float = _setting(60.0, _positive)  # how often `jobs run` runs a job
    # How far the scheduler's clock may be from the database's before it refuses to open,
    # remind, close, seal or report (jobs/schedule.py).
    clock_tolerance_seconds: float = _setting(300.0, _at_least(0))
    link_max_age_days: int = _setting(400, _at_least(1))  # links also stop when the cycle closes
    session_hours: float = _setting(8.0, _positive)  # becomes PERMANENT_SESSION_LIFETIME
    session_cookie_httponly: bool = _setting(True)
    session_cookie_samesite: str = _setting("Lax", _one_of("Lax", "Strict", "None"))
    # Unset: secure whenever BASE_URL is https://.
    session_cookie_secure: bool | None = _setting(None)
    wtf_csrf_time_limit: int = _setting(8 * 3600, _positive)
    max_content_length: int = _setting(4 * 1024 * 1024, _positive)
    trusted_proxies: int = _setting(0, _at_least(0))  # proxies in front (ProxyFix)

    def flask_config(self) -> dict[str, Any]:
        """The keys Flask and its extensions read for themselves, from these settings."""
        return {
            "SECRET_KEY": self.secret_key,
            "SECRET_KEY_FALLBACKS": list(self.secret_key_fallbacks),
            "SESSION_COOKIE_HTTPONLY": self.session_cookie_httponly,
            "SESSION_COOKIE_SAMESITE": self.session_cookie_samesite,
            "SESSION_COOKIE_SECURE": bool(self.session_cookie_secure),
            "PERMANENT_SESSION_LIFETIME": int(self.session_hours * 3600),
            "WTF_CSRF_TIME_LIMIT": self.wtf_csrf_time_limit,
            "MAX_CONTENT_LENGTH": self.max_content_length,
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_url,
            "RATELIMIT_KEY_PREFIX": self.ratelimit_key_prefix,
        }


SETTING_NAMES: tuple[str, ...] = tuple(f.name.upper() for f in dataclasses.fields(Settings))


def instance_path_from_env() -> str:
    return os.path.abspath(os.environ.get(f"{ENV_PREFIX}_INSTANCE_PATH", "instance"))


def get_settings(app: Flask | None = None) -> Settings:
    """The app's settings (the current app's by default)."""
    settings: Settings = (app or current_app).extensions["settings"]
    return settings


def load_config(app: Flask, overrides: Mapping[str, Any] | None) -> Settings:
    """Build the settings once and store them; raises `ConfigError` naming a bad variable."""
    supplied: dict[str, tuple[Any, str]] = {}  # KEY -> (value, the name to blame)
    environment = Config(app.root_path)
    # Flask's own decoding: "50" is 50, "true" is True, anything not JSON stays a string.
    environment.from_prefixed_env(ENV_PREFIX)
    for key, value in environment.items():
        name = f"{ENV_PREFIX}_{key}"
        # A setting is coerced from the text itself: a secret key "1e5" stays "1e5".
        supplied[key] = (os.environ[name] if key in SETTING_NAMES else value, name)
    for key, value in (overrides or {}).items():
        supplied[key] = (value, key)
    # Keys that are not settings (TESTING, RATELIMIT_ENABLED, ...) go to Flask as they are.
    app.config.update({key: value for key, (value, _) in supplied.items()})

    values = {key: supplied[key] for key in SETTING_NAMES if key in supplied}
    settings = _coerce(Settings(), values)
    settings = _complete(settings, Path(app.instance_path))
    _install(app, settings)
    return settings


def update_settings(app: Flask, **changes: Any) -> Settings:
    """Change some settings of a running app (tests), coerced and checked as at start-up."""
    unknown = sorted(set(changes) - set(SETTING_NAMES))
    if unknown:
        raise ConfigError(f"no such setting: {', '.join(unknown)}")
    settings = _coerce(get_settings(app), {k: (v, k) for k, v in changes.items()})
    settings = _complete(settings, Path(app.instance_path))
    _install(app, settings)
    return settings


def _install(app: Flask, settings: Settings) -> None:
    app.extensions["settings"] = settings
    app.config.update({f.name.upper(): getattr(settings, f.name) for f in _FIELDS})
    app.config.update(settings.flask_config())


def _complete(settings: Settings, instance: Path) -> Settings:
    """Fill in the defaults that depend on the instance folder or on other settings."""
    changes: dict[str, Any] = {"base_url": settings.base_url.rstrip("/")}
    if not settings.database_url:
        instance.mkdir(parents=True, exist_ok=True)
        changes["database_url"] = f"sqlite:///{instance / 'mat-review.sqlite3'}"
    if not settings.mail_url:
        changes["mail_url"] = f"file://{instance / 'outbox'}"
    if not settings.secret_key:
        changes["secret_key"] = _instance_secret_key(instance)
    if settings.session_cookie_secure is None:
        # Secure cookies whenever the service is reached over HTTPS.
        changes["session_cookie_secure"] = changes["base_url"].startswith("https://")
    return dataclasses.replace(settings, **changes)


_FIELDS = dataclasses.fields(Settings)
_TYPES = typing.get_type_hints(Settings)


def _coerce(base: Settings, supplied: Mapping[str, tuple[Any, str]]) -> Settings:
    changes: dict[str, Any] = {}
    for f in _FIELDS:
        key = f.name.upper()
        if key not in supplied:
            continue
        raw, name = supplied[key]
        try:
            value = _convert(raw, _TYPES[f.name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}: {raw!r} {exc}") from None
        check = f.metadata.get("check")
        problem = check(value) if check is not None and value is not None else None
        if problem:
            raise ConfigError(f"{name}: {raw!r} {problem}")
        changes[f.name] = value
    return dataclasses.replace(base, **changes)


def _convert(raw: Any, kind: Any) -> Any:
    """`raw` (from the environment, already JSON-decoded where it could be) as `kind`."""
    if isinstance(kind, types.UnionType):  # only `T | None` is used
        if raw is None or raw == "":
            return None
        (kind,) = (arg for arg in kind.__args__ if arg is not type(None))
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError("is not true or false")
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError("is not a whole number")
        try:
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError):
            raise ValueError("is not a whole number") from None
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError("is not a number")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError("is not a number") from None
    if kind is str:
        if raw is None:
            return ""
        if not isinstance(raw, str | int | float):
            raise ValueError("is not text")
        return str(raw)
    if kind == tuple[str, ...]:
        if raw is None:
            return ()
        if isinstance(raw, str):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
            return tuple(raw)
        raise ValueError("is not a comma-separated list")
    raise TypeError(f"has a type the settings cannot read ({kind})")


def _instance_secret_key(instance: Path) -> str:
    """Read the instance's secret key, creating it (readable by the owner only) on first run."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        # Written in full to a private temporary file, then linked into place in one step: web
        # workers starting together all end up reading the same complete key.
        fd, temporary = tempfile.mkstemp(dir=instance, prefix=".secret_key.")
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.fsync(fd)
            os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it, or set MAT_REVIEW_SECRET_KEY")
    return key
