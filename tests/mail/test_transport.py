"""Transports from MAIL_URL: the file transport, and SMTP with STARTTLS or TLS and a login, each
against a real aiosmtpd server on loopback with a throwaway certificate."""

from __future__ import annotations

import email
import subprocess
import threading
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from mail.smtp_sink import SmtpSink, TricklingServer, tls_context

from survey.errors import UserError
from survey.mail.messages import build_email, new_message_id
from survey.mail.transport import (
    ConnectionFailure,
    FileTransport,
    PermanentFailure,
    SendAbandoned,
    SMTPSettings,
    SMTPTransport,
    TemporaryFailure,
    parse_mail_url,
)

USER, PASSWORD = "reviews@oak.example", "p@ss:w/rd"


def message(n: int = 1, recipient: str = "head@school.example") -> Any:
    return build_email(
        sender="reviews@oak.example",
        recipient=recipient,
        subject=f"Message {n}",
        text=f"Hello {n}",
        html_body=f"<p>Hello {n}</p>",
        message_id=new_message_id("reviews@oak.example"),
    )


def test_mail_urls_choose_the_transport_and_decode_the_login() -> None:
    smtp = parse_mail_url("smtp://relay.example:2525")
    assert isinstance(smtp, SMTPTransport)
    assert smtp.settings == SMTPSettings("relay.example", 2525, "plain")
    starttls = parse_mail_url("smtp+starttls://reviews%40oak.example:p%40ss%3Aw%2Frd@mx.example")
    assert isinstance(starttls, SMTPTransport)
    assert starttls.settings.security == "starttls" and starttls.settings.port == 587
    assert (starttls.settings.username, starttls.settings.password) == (USER, PASSWORD)
    tls = parse_mail_url("smtps://u:p@mx.example", timeout=7)
    assert isinstance(tls, SMTPTransport)
    assert (tls.settings.security, tls.settings.port, tls.settings.timeout) == ("tls", 465, 7)
    assert "p@ss" not in starttls.settings.describe()
    folder = parse_mail_url("file:///var/mat-review/outbox")
    assert isinstance(folder, FileTransport) and folder.directory == Path("/var/mat-review/outbox")
    for bad in ("http://example.org", "smtp://", "smtp://host:port", "file://"):
        with pytest.raises(UserError):
            parse_mail_url(bad)


def test_the_file_transport_writes_one_whole_eml_per_message_in_order(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "outbox")
    sent = [message(n) for n in range(1, 13)]
    with transport.connect() as conn:
        for item in sent:
            conn.send(item, "head@school.example")
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.suffix for f in files] == [".eml"] * 12  # no temporary files left behind
    read = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert [m["Subject"] for m in read] == [f"Message {n}" for n in range(1, 13)]
    assert [m["Message-ID"] for m in read] == [m["Message-ID"] for m in sent]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def starttls_server(certificate: tuple[str, str]) -> Iterator[SmtpSink]:
    sink = SmtpSink().start(
        tls_context=tls_context(*certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    yield sink
    sink.stop()


@pytest.fixture
def tls_server(certificate: tuple[str, str]) -> Iterator[SmtpSink]:
    sink = SmtpSink().start(
        ssl_context=tls_context(*certificate),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    yield sink
    sink.stop()


def test_starttls_with_a_login_delivers_over_one_connection(
    starttls_server: SmtpSink, certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])  # trust the throwaway certificate
    url = f"smtp+starttls://reviews%40oak.example:p%40ss%3Aw%2Frd@127.0.0.1:{starttls_server.port}"
    with parse_mail_url(url).connect() as conn:
        for n in range(3):
            conn.send(message(n), f"person{n}@school.example")
    assert starttls_server.count == 3
    # A 550 for one recipient is permanent, and the connection carries on.
    starttls_server.reject.add("gone@school.example")
    with parse_mail_url(url).connect() as conn:
        with pytest.raises(PermanentFailure, match=r"^550 5\.1\.1"):
            conn.send(message(), "gone@school.example")
        conn.send(message(), "head@school.example")
    assert starttls_server.count == 4


def test_smtps_with_a_login_delivers(
    tls_server: SmtpSink, certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    url = f"smtps://reviews%40oak.example:p%40ss%3Aw%2Frd@127.0.0.1:{tls_server.port}"
    with parse_mail_url(url).connect() as conn:
        conn.send(message(), "head@school.example")
    assert tls_server.count == 1


def test_an_untrusted_certificate_is_a_connection_failure(starttls_server: SmtpSink) -> None:
    untrusted = parse_mail_url(f"smtp+starttls://a:b@127.0.0.1:{starttls_server.port}", timeout=5)
    with untrusted.connect() as conn, pytest.raises(ConnectionFailure, match="certificate"):
        conn.send(message(), "head@school.example")
    assert starttls_server.count == 0


def test_a_refused_login_is_a_connection_failure_that_never_shows_the_password(
    starttls_server: SmtpSink, certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    url = f"smtp+starttls://reviews%40oak.example:not-it@127.0.0.1:{starttls_server.port}"
    with (
        parse_mail_url(url, timeout=5).connect() as conn,
        pytest.raises(ConnectionFailure, match="535") as refused,
    ):
        conn.send(message(), "head@school.example")
    assert "not-it" not in str(refused.value)
    assert starttls_server.count == 0


# -- time limits: a server that trickles ------------------------------------------------------


def test_a_reply_trickled_byte_by_byte_is_cut_off_at_the_deadline_and_the_next_message_goes(
    trickler: TricklingServer,
) -> None:
    trickler.tarpit.add("slow@school.example")
    # Each read gets 5 s, and a byte comes every 0.2 s: only the deadline can stop this.
    with parse_mail_url(trickler.url, timeout=5).connect() as conn:
        started = time.monotonic()
        with pytest.raises(TemporaryFailure, match="too slowly") as failure:
            conn.send(message(1, "slow@school.example"), "slow@school.example",
                      deadline=started + 1.0)  # fmt: skip
        took = time.monotonic() - started
        assert not isinstance(failure.value, ConnectionFailure | SendAbandoned)
        assert 1.0 <= took < 2.0  # at the deadline, not when the server finishes (never)
        conn.send(message(2), "head@school.example", deadline=time.monotonic() + 5)
    assert len(trickler.attempted) == 2 and trickler.received == trickler.attempted[1:]


def test_a_greeting_trickled_byte_by_byte_is_a_connection_failure_on_time(
    trickler: TricklingServer,
) -> None:
    trickler.trickle_greeting = True
    started = time.monotonic()
    with (
        parse_mail_url(trickler.url, timeout=5).connect() as conn,
        pytest.raises(ConnectionFailure, match="too slowly"),
    ):
        conn.send(message(), "head@school.example", deadline=started + 1.0)
    assert time.monotonic() - started < 2.0
    assert not trickler.attempted


def test_stopping_cuts_off_a_send_under_way_at_once(trickler: TricklingServer) -> None:
    trickler.trickle_all = True
    stop = threading.Event()
    with parse_mail_url(trickler.url, timeout=5).connect(stop) as conn:
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        with pytest.raises(SendAbandoned):
            conn.send(message(), "head@school.example")  # no deadline: only `stop` ends it
        assert time.monotonic() - started < 1.5
    # The server saw the client hang up (it notices on its next byte).
    deadline = time.monotonic() + 2
    while trickler.trickling and time.monotonic() < deadline:
        time.sleep(0.05)
    assert trickler.trickling == 0 and len(trickler.trickles) == 1
