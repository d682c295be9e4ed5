"""E-mail answers the same list as every channel, against real SMTP servers on loopback:
the session's mail catcher, and scripted aiosmtpd servers that fail or demand a login."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monitoring.errors import DeliveryError
from monitoring.localstack.catchers import MailCatcher
from monitoring.localstack.emulators import free_port
from monitoring.notifiers import build_notifier
from monitoring.notifiers.base import Message
from monitoring.notifiers.context import Context
from monitoring.notifiers.routing import EmailReceiver
from tests.notifiers.conftest import SMTP_PASSWORD, Sleeps, alert

RECIPIENTS = ["Ops Team <ops@example.com>", "José Müller <jose@example.com>"]


def message(**changes: Any) -> Message:
    return Message(key="outbox-7", notifications=[alert(**changes)], receiver="mail")


def send(ctx: Context, msg: Message | None = None, to: list[str] | None = None) -> None:
    config = EmailReceiver(kind="email", to=to or RECIPIENTS)
    build_notifier("mail", config, ctx).send(msg or message())


class Scripted:
    """An aiosmtpd handler that answers DATA with the queued replies, then accepts.

    ``refuse`` maps a recipient address to the reply its RCPT TO gets instead of 250.
    """

    def __init__(self, *replies: str, refuse: dict[str, str] | None = None) -> None:
        self.replies = list(replies)
        self.refuse = refuse or {}
        self.accepted = 0
        self.delivered_to: list[str] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.accepted += 1
        self.delivered_to += envelope.rcpt_tos
        return "250 OK"


@pytest.fixture
def scripted() -> Iterator[Callable[..., tuple[Scripted, int]]]:
    from aiosmtpd.controller import Controller

    started: list[Any] = []

    def start(
        *replies: str, refuse: dict[str, str] | None = None, **options: Any
    ) -> tuple[Scripted, int]:
        handler, port = Scripted(*replies, refuse=refuse), free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        started.append(controller)
        return handler, port

    yield start
    for controller in started:
        controller.stop()


def test_it_sends_plain_text_and_html_to_every_recipient(
    make_ctx: Callable[..., Context], mailbox: MailCatcher
) -> None:
    send(make_ctx())

    [mail] = mailbox.messages
    assert sorted(mail.rcpt_tos) == ["jose@example.com", "ops@example.com"]
    assert mail.subject == "[FIRING] Error rate above 5%"
    assert "Value: 12.5" in mail.text() and "users affected: 412" in mail.text()
    assert "<h3" in mail.html() and "Error rate above 5%" in mail.html()
    assert mail.message["From"] == "Firewatch <firewatch@localhost>"


def test_a_large_value_is_written_out_not_in_scientific_notation(
    make_ctx: Callable[..., Context], mailbox: MailCatcher
) -> None:
    send(make_ctx(), message(value=1234567.0, fields={}))

    mail = mailbox.messages[0]
    assert "Value: 1,234,567" in mail.text()
    assert "<b>1,234,567</b>" in mail.html()


def test_non_ascii_subject_and_names_arrive_intact(
    make_ctx: Callable[..., Context], mailbox: MailCatcher
) -> None:
    send(make_ctx(), message(title="Fehlerquote über 5 % — Zahlungen"))

    [mail] = mailbox.messages
    assert mail.subject == "[FIRING] Fehlerquote über 5 % — Zahlungen"
    assert "José Müller <jose@example.com>" in str(mail.message["To"])
    raw = mail.message.as_bytes()
    assert b"=?utf-8?" in raw  # encoded on the wire (RFC 2047), decoded above


def test_it_renders_resolved_with_its_own_subject(
    make_ctx: Callable[..., Context], mailbox: MailCatcher
) -> None:
    send(make_ctx(), message(status="resolved"))

    assert mailbox.messages[0].subject == "[RESOLVED] Error rate above 5%"
    assert "RESOLVED - critical" in mailbox.messages[0].text()


def test_html_from_the_sender_is_kept_and_text_is_escaped(
    make_ctx: Callable[..., Context], mailbox: MailCatcher
) -> None:
    send(make_ctx(), message(summary="a <script> tag", html="<table id='report'></table>"))

    html = mailbox.messages[0].html()
    assert "<table id='report'></table>" in html
    assert "a &lt;script&gt; tag" in html


def test_it_retries_on_a_4xx_smtp_answer(
    make_ctx: Callable[..., Context], scripted: Callable[..., tuple[Scripted, int]], sleeps: Sleeps
) -> None:
    handler, port = scripted("451 4.3.0 try again later", "421 4.7.0 busy")

    send(make_ctx(smtp_port=port))

    assert handler.accepted == 1
    assert len(sleeps) == 2


def test_it_stops_on_a_5xx_smtp_answer(
    make_ctx: Callable[..., Context], scripted: Callable[..., tuple[Scripted, int]], sleeps: Sleeps
) -> None:
    handler, port = scripted("554 5.7.1 rejected")

    with pytest.raises(DeliveryError, match="SMTP server answered 554") as raised:
        send(make_ctx(smtp_port=port))

    assert raised.value.permanent
    assert handler.accepted == 0 and sleeps == []


def test_a_recipient_refused_while_others_accept_is_a_failure_naming_it(
    make_ctx: Callable[..., Context], scripted: Callable[..., tuple[Scripted, int]], sleeps: Sleeps
) -> None:
    handler, port = scripted(refuse={"jose@example.com": "550 5.1.1 no such user"})

    with pytest.raises(DeliveryError) as raised:
        send(make_ctx(smtp_port=port))

    assert str(raised.value) == "SMTP server refused 1 of 2 recipients: jo***@example.com (550)"
    # Permanent: the others have the message, and a retry would send it to them again.
    assert raised.value.permanent and sleeps == []
    assert handler.delivered_to == ["ops@example.com"]


def test_every_recipient_refused_for_now_is_retried(
    make_ctx: Callable[..., Context], scripted: Callable[..., tuple[Scripted, int]], sleeps: Sleeps
) -> None:
    busy = "450 4.2.1 mailbox busy, try later"
    handler, port = scripted(refuse={"ops@example.com": busy, "jose@example.com": busy})

    with pytest.raises(DeliveryError, match="refused every recipient") as raised:
        send(make_ctx(smtp_port=port))

    assert not raised.value.permanent and len(sleeps) == 2
    assert handler.accepted == 0


def test_a_closed_port_is_retried_then_reported(
    make_ctx: Callable[..., Context], sleeps: Sleeps
) -> None:
    with pytest.raises(DeliveryError, match="could not be reached") as raised:
        send(make_ctx(smtp_port=free_port()))

    assert not raised.value.permanent
    assert len(sleeps) == 2


def test_it_logs_in_and_a_wrong_password_is_permanent_and_not_repeated(
    make_ctx: Callable[..., Context],
    scripted: Callable[..., tuple[Scripted, int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiosmtpd.smtp import AuthResult

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = data.login == b"firewatch" and data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    handler, port = scripted(authenticator=check, auth_require_tls=False)
    caplog.set_level(logging.DEBUG)

    send(make_ctx(smtp_port=port, smtp_username="firewatch", smtp_password=SMTP_PASSWORD))
    with pytest.raises(DeliveryError) as raised:
        send(make_ctx(smtp_port=port, smtp_username="firewatch", smtp_password="wrong-pass"))

    assert handler.accepted == 1
    assert raised.value.permanent and "rejected the login" in str(raised.value)
    assert SMTP_PASSWORD not in caplog.text + str(raised.value)


def test_the_message_id_is_the_same_on_a_resend(
    make_ctx: Callable[..., Context], mailbox: MailCatcher
) -> None:
    send(make_ctx())
    send(make_ctx())

    first, second = (m.message["Message-ID"] for m in mailbox.messages)
    assert first == second and first.endswith("@firewatch>")


def test_description_masks_the_addresses(make_ctx: Callable[..., Context]) -> None:
    config = EmailReceiver(kind="email", to=["alice@example.com"])

    described = build_notifier("mail", config, make_ctx()).describe()

    assert "alice@" not in described and "al***@example.com" in described


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def _server_context(certificate: tuple[str, str]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def test_starttls_upgrades_the_connection_before_sending(
    make_ctx: Callable[..., Context],
    scripted: Callable[..., tuple[Scripted, int]],
    certificate: tuple[str, str],
) -> None:
    context = _server_context(certificate)
    handler, port = scripted(tls_context=context, require_starttls=True)

    send(make_ctx(smtp_port=port, smtp_security="starttls", smtp_ca_file=certificate[0]))

    assert handler.accepted == 1


def test_an_untrusted_certificate_is_a_permanent_failure(
    make_ctx: Callable[..., Context],
    scripted: Callable[..., tuple[Scripted, int]],
    certificate: tuple[str, str],
) -> None:
    handler, port = scripted(tls_context=_server_context(certificate), require_starttls=True)

    with pytest.raises(DeliveryError, match="TLS handshake failed") as raised:
        send(make_ctx(smtp_port=port, smtp_security="starttls"))

    assert raised.value.permanent and handler.accepted == 0


def test_implicit_tls_sends_over_an_encrypted_connection(
    make_ctx: Callable[..., Context],
    scripted: Callable[..., tuple[Scripted, int]],
    certificate: tuple[str, str],
) -> None:
    handler, port = scripted(ssl_context=_server_context(certificate))

    send(make_ctx(smtp_port=port, smtp_security="tls", smtp_ca_file=certificate[0]))

    assert handler.accepted == 1
