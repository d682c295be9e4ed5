"""Apprise URLs for the long tail: Teams, Discord, Telegram, Matrix and 100 more.

``FIREWATCH_NOTIFY__APPRISE_URLS`` (or the variable a receiver names) holds one or more
Apprise URLs separated by spaces or commas; they carry tokens, so they are secrets. Apprise is
imported only when a message is sent: importing it loads its whole plug-in catalogue, which a
cold start should not pay for. https://github.com/caronc/apprise/wiki
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from functools import lru_cache
from typing import Any, ClassVar

from monitoring.errors import DeliveryError
from monitoring.notifiers.base import Message, raise_unconfigured
from monitoring.notifiers.context import Context
from monitoring.notifiers.routing import AppriseReceiver

__all__ = ["AppriseNotifier"]

_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _apprise() -> Any:
    """Return the apprise module with its plug-ins loaded once, quietly.

    Loading imports modules that raise DeprecationWarnings on Python 3.11 (imghdr via PGPy);
    they are Apprise's to fix and must not surface as our warnings.
    """
    with _load_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        from apprise.manager_plugins import NotificationManager

        # A singleton shared with Apprise's own lookups.
        NotificationManager().load_modules()  # type: ignore[no-untyped-call]
        # Apprise logs every URL it loads and posts to at DEBUG, tokens included.
        logging.getLogger("apprise").addFilter(lambda record: record.levelno > logging.DEBUG)
        return apprise


class AppriseNotifier:
    kind: ClassVar[str] = "apprise"
    supports_keys: ClassVar[bool] = False
    groups: ClassVar[bool] = True

    def __init__(
        self, name: str, config: AppriseReceiver, ctx: Context, urls: str | None = None
    ) -> None:
        self.name = name
        self.urls_env = config.urls_env
        raw = urls or ctx.secret(config.urls_env) or ""
        self.urls = [u for u in re.split(r"[\s,]+", raw) if u]
        self.ctx = ctx

    def describe(self) -> str:
        schemes = sorted({u.split("://", 1)[0] for u in self.urls})
        return f"apprise ({', '.join(schemes) or 'no URLs'}) from ${self.urls_env}"

    def send(self, message: Message) -> None:
        if not self.urls:
            raise raise_unconfigured("apprise", f"${self.urls_env}")
        apprise = _apprise()
        render = self.ctx.renderer.render
        policy, attempts = self.ctx.policy, 0
        sender = apprise.Apprise()
        for url in self.urls:
            if not sender.add(url):
                # Apprise's own message would echo the URL, with its token.
                raise DeliveryError("apprise could not parse one of its URLs", permanent=True)
        while True:
            ok = sender.notify(
                title=render("subject.j2", message),
                body=render("text.j2", message),
                body_format=apprise.NotifyFormat.TEXT,
            )
            if ok:
                return
            attempts += 1
            if attempts >= policy.attempts:
                raise DeliveryError("apprise could not deliver to every URL")
            self.ctx.sleep(policy.backoff(attempts - 1, self.ctx.rng))
