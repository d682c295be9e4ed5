"""Annotation templates: one sandboxed Jinja environment for checking and for rendering.

The loader compiles every annotation with ``template_env()``, the environment the evaluator
renders with, so an unknown filter or test, a name the context does not have and an internal
attribute (``value.__class__``) are load errors with their position, not a message that shows
the template as written at 2 AM. Only the values can still fail at render (``labels.x|pct``
of a label that is no number); the evaluator then sends its default summary and names the
failure in the message's fields.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["CONTEXT_NAMES", "check_template", "format_value", "template_env"]

# What build_notification passes to every annotation template.
CONTEXT_NAMES = ("value", "labels", "params", "rule", "severity", "status")


def format_value(value: Any) -> str:
    if value is None:
        return "no data"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.4g}"


@cache
def template_env() -> SandboxedEnvironment:
    """Return the environment annotations are checked and rendered with (one per process)."""
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        finalize=lambda v: format_value(v) if isinstance(v, float) or v is None else v
    )
    env.filters["pct"] = lambda v: "no data" if v is None else f"{float(v) * 100:.2f}%"
    env.filters["ms"] = lambda v: "no data" if v is None else f"{float(v):,.0f} ms"
    env.filters["usd"] = lambda v: "no data" if v is None else f"${float(v):,.2f}"
    return env


def check_template(text: str) -> str | None:
    """Return why ``text`` would not render as meant, or ``None`` when it compiles clean."""
    from jinja2 import TemplateSyntaxError, meta

    env = template_env()
    try:
        tree = env.parse(text)
        env.compile(tree)  # unknown filters and tests are found here, not by parse
    except TemplateSyntaxError as error:  # TemplateAssertionError is one too
        return error.message or str(error)
    # The sandbox refuses these at render. Only dunders: `labels._team` reads a label (a
    # dict has no attribute `_team`), and dunders are the way out of the values we pass.
    internal = sorted({name for name in _attributes(tree) if name.startswith("__")}, key=text.find)
    if internal:
        return f"attribute {internal[0]!r} is internal; templates cannot read it"
    unknown = meta.find_undeclared_variables(tree) - set(CONTEXT_NAMES) - set(env.globals)
    if unknown:
        return f"unknown name {sorted(unknown)[0]!r}; templates see {', '.join(CONTEXT_NAMES)}"
    return None


def _attributes(tree: Any) -> list[str]:
    """Return the attribute names ``tree`` reads: ``a.b``, ``a["b"]`` and ``a|attr("b")``."""
    from jinja2 import nodes

    names = [node.attr for node in tree.find_all(nodes.Getattr)]
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            names.append(item.arg.value)
    for call in tree.find_all(nodes.Filter):
        for arg in call.args if call.name == "attr" else []:
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                names.append(arg.value)
    return names
