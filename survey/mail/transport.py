"""Mail transports, chosen by `MAIL_URL` (SPEC section 10).

- `file://DIR`: each message is written to DIR as one `.eml` file (the embedded default). Names
  sort in the order the messages were written; a file appears whole or not at all.
- `smtp://host:port`: plain SMTP (port 25 by default), optional login.
- `smtp+starttls://user:pass@host:587`: SMTP upgraded with STARTTLS before logging in.
- `smtps://user:pass@host:465`: SMTP over TLS from the first byte.

User and password are URL-decoded (`%40` for `@`). Timeouts come from `MAIL_TIMEOUT`.

A transport hands out a `Connection` (`with transport.connect() as conn`), which the dispatcher
uses for a whole batch: one SMTP session, reopened only when the server drops it. `send` raises
`TemporaryFailure` (try again later) or `PermanentFailure` (the server refused this message for
good, with its reply); `ConnectionFailure` is a temporary failure that says nothing about the
message itself (the server cannot be reached or refused our login).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from survey.errors import UserError


class DeliveryFailure(Exception):
    """A message could not be handed over. `reason` is the server's reply or the error."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:1000]


class TemporaryFailure(DeliveryFailure):
    """Worth trying again later: a 4xx reply, a dropped connection, a timeout."""


class ConnectionFailure(TemporaryFailure):
    """The server could not be reached (or refused our login): nothing to do with the message."""


class PermanentFailure(DeliveryFailure):
    """A 5xx reply: this message will never be accepted as it is."""


class Connection(Protocol):
    def send(self, message: EmailMessage, recipient: str) -> None:
        """Hand `message` over for `recipient` (raises a `DeliveryFailure` subclass)."""

    def close(self) -> None: ...


class Transport(Protocol):
    def connect(self) -> Any:
        """A context manager yielding a `Connection`."""


# -- the file transport -------------------------------------------------------------------------


class FileTransport:
    """Writes each message as `<DIR>/<time>-<n>.eml`, atomically (a temporary file, then rename)."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, directory: Path):
        self.directory = directory

    @contextmanager
    def connect(self) -> Iterator[FileConnection]:
        self.directory.mkdir(parents=True, exist_ok=True)
        yield FileConnection(self)

    def next_name(self) -> str:
        with FileTransport._lock:
            FileTransport._counter += 1
            counter = FileTransport._counter
        # Nanoseconds since the epoch, zero-padded, then a per-process counter: names sort in the
        # order the messages were written, and never collide within one process.
        return f"{time.time_ns():020d}-{os.getpid()}-{counter:06d}.eml"


class FileConnection:
    def __init__(self, transport: FileTransport):
        self.transport = transport

    def send(self, message: EmailMessage, recipient: str) -> None:
        directory = self.transport.directory
        data = message.as_bytes()
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, directory / self.transport.next_name())
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to {directory}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        return None


# -- the SMTP transport -------------------------------------------------------------------------


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int
    security: str  # "plain", "starttls" or "tls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def describe(self) -> str:
        """For log lines: never includes the password."""
        scheme = {"plain": "smtp", "starttls": "smtp+starttls", "tls": "smtps"}[self.security]
        return f"{scheme}://{self.host}:{self.port}"


class SMTPTransport:
    def __init__(self, settings: SMTPSettings):
        self.settings = settings

    @contextmanager
    def connect(self) -> Iterator[SMTPConnection]:
        connection = SMTPConnection(self.settings)
        try:
            yield connection
        finally:
            connection.close()


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


class SMTPConnection:
    """One SMTP session, opened on the first send and reopened after the server drops it."""

    def __init__(self, settings: SMTPSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        """Connect (and log in) unless already connected; raises `ConnectionFailure`."""
        if self._smtp is not None:
            return
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPResponseException as exc:
            _quietly_close(smtp)
            raise ConnectionFailure(
                f"{s.describe()} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(smtp)
            raise ConnectionFailure(f"cannot connect to {s.describe()}: {exc}") from exc
        self._smtp = smtp

    def send(self, message: EmailMessage, recipient: str) -> None:
        self.open()
        smtp = self._smtp
        assert smtp is not None
        try:
            smtp.send_message(message, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            self._after_failure()
            raise _classify(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, or a reply we did not expect.
            self._after_failure()
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Dropped connection, timeout: the message may or may not have arrived; the row keeps
            # its Message-ID, so a second copy is recognisable.
            self._reset()
            raise TemporaryFailure(f"connection to {self.settings.describe()} lost: {exc}") from exc

    def _after_failure(self) -> None:
        # smtplib closes the socket itself after a 421 ("service closing"); reconnect next time.
        if self._smtp is not None and getattr(self._smtp, "sock", None) is None:
            self._reset()

    def _reset(self) -> None:
        _quietly_close(self._smtp)
        self._smtp = None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            _quietly_close(smtp)


def _classify(code: int, reply: bytes | str) -> DeliveryFailure:
    text = _reply(code, reply)
    if 500 <= code < 600:
        return PermanentFailure(text)
    return TemporaryFailure(text)


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with suppress(OSError, smtplib.SMTPException):
        smtp.close()


# -- from configuration -------------------------------------------------------------------------

_SCHEMES = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


def parse_mail_url(url: str, timeout: float = 30.0) -> FileTransport | SMTPTransport:
    """A transport for `url`; raises `UserError` naming what is wrong (never the password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "file":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise UserError("MAIL_URL file:// needs a folder, e.g. file:///var/mat-review/outbox")
        return FileTransport(Path(path))
    if scheme not in _SCHEMES:
        raise UserError(
            f"MAIL_URL scheme {scheme or '(none)'!r} is not supported "
            "(use file://, smtp://, smtp+starttls:// or smtps://)"
        )
    security, default_port = _SCHEMES[scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise UserError("MAIL_URL has a port that is not a number") from None
    if not parts.hostname:
        raise UserError(f"MAIL_URL {scheme}:// needs a host, e.g. {scheme}://mail.example.org")
    return SMTPTransport(
        SMTPSettings(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            timeout=timeout,
        )
    )


def transport_from_config(config: Mapping[str, Any]) -> FileTransport | SMTPTransport:
    return parse_mail_url(str(config["MAIL_URL"]), float(config.get("MAIL_TIMEOUT") or 30))
