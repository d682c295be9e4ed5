"""Message text from jinja2 templates that operators can override.

Built-in templates live beside this module (``subject.j2``, ``text.j2``, ``html.j2``,
``sms.j2``). A file of the same name in ``FIREWATCH_NOTIFY__TEMPLATES_DIR`` replaces one.
Only ``html.j2`` is autoescaped; the others are plain text.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import jinja2

from monitoring.errors import ConfigError
from monitoring.notifiers.base import Message
from monitoring.notifiers.model import Notification

__all__ = ["Renderer", "number", "renderer", "status_word"]

BUILTIN = Path(__file__).resolve().parent / "templates"
COLOURS = {"resolved": "#2eb886", "critical": "#d00000", "warning": "#f2a900", "info": "#439fe0"}


def number(value: float) -> str:
    """Return ``value`` as a person reads it: 1,234,567 and 0.3, where ``%g`` wrote
    1.23457e+06 (dropping digits) and ``str`` 0.30000000000000004."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.6g}"


def status_word(n: Notification) -> str:
    return {"firing": "FIRING", "resolved": "RESOLVED"}.get(n.status, "INFO")


def colour(n: Notification) -> str:
    return COLOURS["resolved"] if n.status == "resolved" else COLOURS[n.severity]


class Renderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        if override_dir is not None and not override_dir.is_dir():
            raise ConfigError(f"FIREWATCH_NOTIFY__TEMPLATES_DIR: {override_dir} is not a folder")
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(BUILTIN))]
        if override_dir is not None:
            loaders.insert(0, jinja2.FileSystemLoader(str(override_dir)))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=lambda name: name == "html.j2",
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
        )
        self._env.globals.update(status_word=status_word, colour=colour, number=number)

    def render(self, name: str, message: Message) -> str:
        """Return template ``name`` rendered for ``message``; a broken template is a
        ``ConfigError`` naming it, so an operator's typo is reported, not swallowed."""
        try:
            template = self._env.get_template(name)
            return template.render(
                message=message,
                n=message.first,
                firing=[n for n in message.notifications if n.status == "firing"],
                resolved=[n for n in message.notifications if n.status == "resolved"],
                others=[n for n in message.notifications if n.status == "info"],
            ).strip()
        except jinja2.TemplateError as error:
            raise ConfigError(f"notification template {name}: {error}") from None


@lru_cache(maxsize=8)
def renderer(override_dir: Path | None = None) -> Renderer:
    return Renderer(override_dir)
