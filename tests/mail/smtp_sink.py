"""A real SMTP server on loopback (aiosmtpd) that records what it receives, for the mail and
jobs tests. It can refuse recipients (550), answer 421 to the first DATA commands, and take its
time over each message (so a test can kill a sender in the middle of a run).

Imported by tests/mail/conftest.py and tests/jobs/conftest.py as `mail.smtp_sink` (pytest puts
tests/ on sys.path for the root conftest).
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    message_id: str
    recipients: tuple[str, ...]
    message: EmailMessage


class SmtpSink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reject: set[str] = set()
        self.temp_fail_data = 0  # answer 421 to this many DATA commands first
        self.delay = 0.0  # seconds to take over each accepted message
        self.data_commands = 0
        self._lock = threading.Lock()
        self.controller: Controller | None = None
        self.port = 0

    # -- aiosmtpd hooks --

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.data_commands += 1
            refuse = self.data_commands <= self.temp_fail_data
        if refuse:
            return "421 4.3.2 Service not available, try again later"
        if self.delay:
            await asyncio.sleep(self.delay)
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(
                Received(str(message["Message-ID"]), tuple(envelope.rcpt_tos), message)
            )
        return "250 OK: queued"

    # -- control --

    def start(self, **controller_options: Any) -> SmtpSink:
        self.port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, **controller_options
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    # -- what arrived --

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def message_ids(self) -> list[str]:
        return [r.message_id for r in self.snapshot()]

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.snapshot() if address in r.recipients]

    def wait_for_unique(self, n: int, timeout: float) -> int:
        """Wait until `n` distinct Message-IDs have arrived; returns how many did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            unique = len(set(self.message_ids()))
            if unique >= n:
                return unique
            time.sleep(0.05)
        return len(set(self.message_ids()))


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


class TricklingServer:
    """A small SMTP server written by hand (aiosmtpd always answers whole lines at once), on
    loopback: it answers like any server, except that its reply to DATA for a recipient in
    `tarpit` (or for every message while `trickle_all` is set) comes one byte every
    `trickle_seconds` and never ends, so no per-read timeout ever trips. With `trickle_greeting`
    set, its very first line trickles instead.

    `received`: Message-IDs it accepted; `attempted`: every Message-ID whose content it read,
    trickled or not; `trickles`: (started, ended) on the monotonic clock for each trickled reply,
    ended when the client hung up; `trickling`: how many trickles are under way now.
    """

    def __init__(self, trickle_seconds: float = 0.5) -> None:
        self.trickle_seconds = trickle_seconds
        self.tarpit: set[str] = set()
        self.trickle_all = False
        self.trickle_greeting = False
        self.received: list[str] = []
        self.attempted: list[str] = []
        self.trickles: list[tuple[float, float]] = []
        self.trickling = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> TricklingServer:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._session(self.rfile, self.wfile)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        threading.Thread(target=server.serve_forever, name="trickling-smtp", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _session(self, rfile: Any, wfile: Any) -> None:
        try:
            if self.trickle_greeting:
                self._trickle(wfile)
                return
            wfile.write(b"220 trickle.test ESMTP\r\n")
            recipients: list[str] = []
            while not self._stopping.is_set():
                line = rfile.readline(8192)
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    wfile.write(b"250-trickle.test\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    recipients = []
                    wfile.write(b"250 OK\r\n")
                elif verb == b"RCPT":
                    address = line.decode().split(":", 1)[1].strip().strip("<>").lower()
                    recipients.append(address)
                    wfile.write(b"250 OK\r\n")
                elif verb == b"DATA":
                    wfile.write(b"354 go ahead\r\n")
                    content = bytearray()
                    while (chunk := rfile.readline(65536)) not in (b".\r\n", b""):
                        content += chunk[1:] if chunk.startswith(b"..") else chunk
                    parsed = BytesParser(policy=policy.default).parsebytes(bytes(content))
                    message_id = str(parsed["Message-ID"])
                    with self._lock:
                        self.attempted.append(message_id)
                    if self.trickle_all or self.tarpit & set(recipients):
                        self._trickle(wfile)
                        return
                    with self._lock:
                        self.received.append(message_id)
                    wfile.write(b"250 OK: queued\r\n")
                elif verb == b"QUIT":
                    wfile.write(b"221 bye\r\n")
                    return
                else:  # RSET, NOOP
                    wfile.write(b"250 OK\r\n")
        except OSError:
            return

    def _trickle(self, wfile: Any) -> None:
        started = time.monotonic()
        with self._lock:
            self.trickling += 1
        try:
            wfile.write(b"2")
            while not self._stopping.wait(self.trickle_seconds):
                wfile.write(b"5")
        except OSError:
            pass  # the client hung up
        finally:
            with self._lock:
                self.trickling -= 1
                self.trickles.append((started, time.monotonic()))
