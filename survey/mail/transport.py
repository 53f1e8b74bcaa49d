"""Mail transports, chosen by `MAIL_URL` (SPEC section 10).

- `file://DIR`: each message is written to DIR as one `.eml` file (the embedded default). Names
  sort in the order the messages were written; a file appears whole or not at all.
- `smtp://host:port`: plain SMTP (port 25 by default), optional login.
- `smtp+starttls://user:pass@host:587`: SMTP upgraded with STARTTLS before logging in.
- `smtps://user:pass@host:465`: SMTP over TLS from the first byte.

User and password are URL-decoded (`%40` for `@`).

A transport hands out a `Connection` (`with transport.connect(stop) as conn`), which the
dispatcher uses for a whole run: one SMTP session, reopened only when the server drops it. `send`
raises `TemporaryFailure` (try again later) or `PermanentFailure` (the server refused this message
for good, with its reply); `ConnectionFailure` is a temporary failure that says nothing about the
message itself (the server cannot be reached or refused our login).

Time limits. `MAIL_TIMEOUT` bounds each socket operation, which alone cannot stop a server that
sends one byte every few seconds. So `send` also takes an absolute `deadline` (on the monotonic
clock) for the whole message, connecting and logging in included: a watchdog thread shuts the
socket down when the deadline passes, or as soon as the `stop` event is set, and the blocked read
or write fails at once. A message cut off by its deadline is a `TemporaryFailure`; one cut off by
`stop` raises `SendAbandoned` (the caller puts it back, to be sent again later with its same
Message-ID: the server may or may not have kept it). The file transport writes a local file, which
neither limit interrupts.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from survey.config import Settings
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


class SendAbandoned(TemporaryFailure):
    """The send was cut off because the sender is stopping: not an attempt that failed."""


class PermanentFailure(DeliveryFailure):
    """A 5xx reply: this message will never be accepted as it is."""


class Connection(Protocol):
    def send(self, message: EmailMessage, recipient: str, *, deadline: float | None = None) -> None:
        """Hand `message` over for `recipient` by `deadline` (`time.monotonic()` seconds; None for
        no limit but `MAIL_TIMEOUT` per read); raises a `DeliveryFailure` subclass."""

    def close(self) -> None: ...


class Transport(Protocol):
    def connect(self, stop: threading.Event | None = None) -> Any:
        """A context manager yielding a `Connection`; setting `stop` cuts off a send under way."""


# -- the file transport -------------------------------------------------------------------------


class FileTransport:
    """Writes each message as `<DIR>/<time>-<n>.eml`, atomically (a temporary file, then rename)."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, directory: Path):
        self.directory = directory

    @contextmanager
    def connect(self, stop: threading.Event | None = None) -> Iterator[FileConnection]:
        with suppress(OSError):  # each send then says why it cannot write (and is retried)
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

    def send(self, message: EmailMessage, recipient: str, *, deadline: float | None = None) -> None:
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
            # A full disk or a missing folder: nothing to do with this message, so (like an
            # unreachable server) the run stops here and the rest wait, their attempts unspent.
            raise ConnectionFailure(f"cannot write to {directory}: {exc.strerror or exc}") from exc

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
    def connect(self, stop: threading.Event | None = None) -> Iterator[SMTPConnection]:
        connection = SMTPConnection(self.settings, stop)
        try:
            yield connection
        finally:
            connection.close()


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


# How long saying goodbye (QUIT) may take before the socket is simply closed.
QUIT_SECONDS = 5.0


class _Watchdog:
    """Shuts down the socket of the SMTP session it is watching when the current step's deadline
    passes or `stop` is set, so that a blocked read or write fails at once (see the module
    docstring). One thread per connection, idle while nothing is being sent."""

    POLL_SECONDS = 0.05  # how often a step under way is checked

    def __init__(self, stop: threading.Event | None):
        self.stop = stop
        self._condition = threading.Condition()
        self._watched: smtplib.SMTP | None = None
        self._deadline: float | None = None
        self._fired: str | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, smtp: smtplib.SMTP, deadline: float | None) -> None:
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="smtp-watchdog")
                self._thread.daemon = True
                self._thread.start()
            self._watched, self._deadline, self._fired = smtp, deadline, None
            self._condition.notify()

    def disarm(self) -> str | None:
        """Stop watching; returns why the socket was shut down ("deadline", "stopped"), if so."""
        with self._condition:
            fired, self._fired, self._watched = self._fired, None, None
            return fired

    @property
    def fired(self) -> str | None:
        with self._condition:
            return self._fired

    def close(self) -> None:
        with self._condition:
            self._closed, self._watched = True, None
            self._condition.notify()

    def _watch(self) -> None:
        with self._condition:
            while not self._closed:
                smtp = self._watched
                if smtp is None:
                    self._condition.wait()
                    continue
                if self._fired is None:
                    if self.stop is not None and self.stop.is_set():
                        self._fired = "stopped"
                    elif self._deadline is not None and time.monotonic() >= self._deadline:
                        self._fired = "deadline"
                if self._fired is not None:
                    # Also catches a socket that appeared after the first shutdown (a connect
                    # that was still under way), until the sender notices and disarms.
                    _shut_down(smtp)
                self._condition.wait(self.POLL_SECONDS)


def _shut_down(smtp: smtplib.SMTP) -> None:
    sock = getattr(smtp, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class SMTPConnection:
    """One SMTP session, opened on the first send and reopened after the server drops it."""

    def __init__(self, settings: SMTPSettings, stop: threading.Event | None = None):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._watchdog = _Watchdog(stop)

    def open(self, deadline: float | None = None) -> None:
        """Connect (and log in) unless already connected, by `deadline`; raises
        `ConnectionFailure` (or `SendAbandoned` if stopped meanwhile)."""
        if self._smtp is not None:
            return
        s = self.settings
        # The connect itself happens before there is a socket to shut down: bound it by the
        # time left as well as by MAIL_TIMEOUT.
        timeout = s.timeout
        if deadline is not None:
            timeout = max(min(timeout, deadline - time.monotonic()), 0.01)
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(timeout=timeout)
        # Connecting here rather than in the constructor lets the watchdog watch the greeting;
        # the constructor would also have recorded the host name that TLS checks.
        smtp._host = s.host  # type: ignore[attr-defined]
        self._watchdog.arm(smtp, deadline)
        try:
            code, greeting = smtp.connect(s.host, s.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            if smtp.sock is not None:
                smtp.sock.settimeout(s.timeout)  # each later read: MAIL_TIMEOUT again
            smtp.timeout = s.timeout
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(smtp)
            # Cut off by the watchdog, whatever smtplib made of the half-read reply.
            fired = self._watchdog.fired
            if fired == "stopped":
                raise SendAbandoned(f"stopped while connecting to {s.describe()}") from exc
            if fired == "deadline":
                raise ConnectionFailure(
                    f"{s.describe()} answered too slowly while we connected (cut off in time)"
                ) from exc
            if isinstance(exc, smtplib.SMTPResponseException):
                reply = _reply(exc.smtp_code, exc.smtp_error)
                raise ConnectionFailure(f"{s.describe()} refused the session: {reply}") from exc
            raise ConnectionFailure(f"cannot connect to {s.describe()}: {exc}") from exc
        finally:
            fired = self._watchdog.disarm()
        if fired is not None:
            # Connected just as the watchdog fired: the socket is shut down; start again next time.
            _quietly_close(smtp)
            if fired == "stopped":
                raise SendAbandoned(f"stopped while connecting to {s.describe()}")
            raise ConnectionFailure(f"{s.describe()} answered too slowly while we connected")
        self._smtp = smtp

    def send(self, message: EmailMessage, recipient: str, *, deadline: float | None = None) -> None:
        self.open(deadline)
        smtp = self._smtp
        assert smtp is not None
        self._watchdog.arm(smtp, deadline)
        try:
            smtp.send_message(message, to_addrs=[recipient])
        except (OSError, smtplib.SMTPException) as exc:
            where = self.settings.describe()
            # Cut off by the watchdog, whatever smtplib made of the half-read reply. The message
            # may or may not have arrived; the row keeps its Message-ID, so a second copy is
            # recognisable.
            fired = self._watchdog.fired
            if fired is not None:
                self._reset()
                if fired == "stopped":
                    raise SendAbandoned(f"stopped while sending to {where}") from exc
                raise TemporaryFailure(
                    f"{where} did not take the message in time (it answers too slowly); "
                    "it will be sent again"
                ) from exc
            if isinstance(exc, smtplib.SMTPRecipientsRefused):
                code, reply = next(iter(exc.recipients.values()))
                self._after_failure()
                raise _classify(code, reply) from exc
            if isinstance(exc, smtplib.SMTPResponseException):
                # Sender refused, data refused, or a reply we did not expect.
                self._after_failure()
                raise _classify(exc.smtp_code, exc.smtp_error) from exc
            # A dropped connection or a timeout.
            self._reset()
            raise TemporaryFailure(f"connection to {where} lost: {exc}") from exc
        finally:
            if self._watchdog.disarm() is not None:
                # The socket has been shut down (perhaps just after the server answered): the
                # next message starts a new session.
                self._reset()

    def _after_failure(self) -> None:
        # smtplib closes the socket itself after a 421 ("service closing"); reconnect next time.
        if self._smtp is not None and getattr(self._smtp, "sock", None) is None:
            self._reset()

    def _reset(self) -> None:
        _quietly_close(self._smtp)
        self._smtp = None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        try:
            if smtp is not None:
                # A server that trickles its goodbye must not hold us either.
                self._watchdog.arm(
                    smtp, time.monotonic() + min(self.settings.timeout, QUIT_SECONDS)
                )
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    _quietly_close(smtp)
                finally:
                    self._watchdog.disarm()
        finally:
            self._watchdog.close()


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


def parse_mail_url(url: str, timeout: float = 30.0) -> Transport:
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


def transport_from_config(settings: Settings) -> Transport:
    return parse_mail_url(settings.mail_url, settings.mail_timeout)
