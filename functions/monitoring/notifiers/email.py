"""E-mail over SMTP: STARTTLS or implicit TLS, login, plain text plus HTML.

Subjects and display names that are not ASCII are encoded by ``EmailMessage`` (RFC 2047);
several recipients get one message. The Message-ID is derived from the idempotency key, so
a resend after a lost answer carries the same id and mail clients thread it as one.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from typing import ClassVar

from monitoring.errors import DeliveryError
from monitoring.notifiers.base import Message, mask_address
from monitoring.notifiers.context import Context
from monitoring.notifiers.routing import EmailReceiver

__all__ = ["EmailNotifier"]


def _address(text: str) -> Address:
    name, addr = getaddresses([text])[0]
    return Address(display_name=name, addr_spec=addr)


class EmailNotifier:
    kind: ClassVar[str] = "email"
    supports_keys: ClassVar[bool] = False
    groups: ClassVar[bool] = True

    def __init__(self, name: str, config: EmailReceiver, ctx: Context) -> None:
        self.name = name
        self.to = list(config.to)
        self.ctx = ctx
        self.password = ctx.secret("FIREWATCH_NOTIFY__SMTP_PASSWORD")

    def describe(self) -> str:
        s = self.ctx.settings
        to = ", ".join(mask_address(a) for a in self.to)
        return f"email to {to} via {s.smtp_host}:{s.smtp_port} ({s.smtp_security})"

    def build(self, message: Message) -> EmailMessage:
        render = self.ctx.renderer.render
        mail = EmailMessage()
        mail["Subject"] = render("subject.j2", message).replace("\n", " ")
        mail["From"] = _address(self.ctx.settings.mail_from)
        mail["To"] = [_address(a) for a in self.to]
        mail["Date"] = formatdate(localtime=False)
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@firewatch>"
        mail.set_content(render("text.j2", message) + "\n")
        mail.add_alternative(render("html.j2", message), subtype="html")
        return mail

    def send(self, message: Message) -> None:
        mail = self.build(message)
        policy, last = self.ctx.policy, None
        for attempt in range(policy.attempts):
            if attempt:
                self.ctx.sleep(policy.backoff(attempt - 1, self.ctx.rng))
            try:
                self._deliver(mail)
                return
            except DeliveryError as error:
                if error.permanent:
                    raise
                last = error
        assert last is not None
        raise last

    def _deliver(self, mail: EmailMessage) -> None:
        s = self.ctx.settings
        timeout = self.ctx.timeout_s or s.timeout_s
        try:
            smtp: smtplib.SMTP
            cafile = str(s.smtp_ca_file) if s.smtp_ca_file else None
            if s.smtp_security == "tls":
                context = ssl.create_default_context(cafile=cafile)
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
            with smtp:
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context(cafile=cafile))
                # The dev mail catcher takes no login; production credentials stay unused.
                if s.smtp_username and self.password and not self.ctx.dev_url:
                    smtp.login(s.smtp_username, self.password)
                # send_message raises only when every recipient is refused; the others it
                # returns, and the message has gone to the rest.
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError("SMTP server rejected the login", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as error:
            # 4xx for every address (greylisting, a full mailbox) is "try again later".
            temporary = all(code < 500 for code, _ in error.recipients.values())
            raise DeliveryError(
                "SMTP server refused every recipient", permanent=not temporary
            ) from None
        except smtplib.SMTPResponseException as error:
            # 4xx is "try again later" in SMTP; 5xx will not change on a retry.
            raise DeliveryError(
                f"SMTP server answered {error.smtp_code}", permanent=error.smtp_code >= 500
            ) from None
        except ssl.SSLError:
            raise DeliveryError("SMTP TLS handshake failed", permanent=True) from None
        except TimeoutError:
            raise DeliveryError(f"SMTP server did not answer within {timeout:g} s") from None
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(
                f"SMTP server could not be reached ({type(error).__name__})"
            ) from None
        if refused:
            raise _partly_refused(refused, len(self.to))


def _partly_refused(refused: dict[str, tuple[int, bytes]], total: int) -> DeliveryError:
    """Return the failure for recipients refused while the others accepted the message.

    Permanent whatever the codes: a retry would send the message again to those who have it.
    The outbox dead-letters it, which tells the operator, and fails over to the fallback.
    """
    who = ", ".join(f"{mask_address(a)} ({code})" for a, (code, _) in sorted(refused.items()))
    return DeliveryError(
        f"SMTP server refused {len(refused)} of {total} recipients: {who}", permanent=True
    )
