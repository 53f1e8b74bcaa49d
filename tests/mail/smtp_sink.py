"""A real SMTP server on loopback (aiosmtpd) that records what it receives, for the mail and
jobs tests. It can refuse recipients (550), answer 421 to the first DATA commands, and take its
time over each message (so a test can kill a sender in the middle of a run).

Imported by tests/mail/conftest.py and tests/jobs/conftest.py as `mail.smtp_sink` (pytest puts
tests/ on sys.path for the root conftest).
"""

from __future__ import annotations

import asyncio
import socket
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
