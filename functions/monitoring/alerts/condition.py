"""The condition language: parse with lark, check names against the KPI catalogue, evaluate.

A condition compiles once, at load, into a tree of small nodes. Every metric, label,
function and parameter is checked then, so a typo is a load error with its position, never
an evaluation failure at 2 AM. Evaluation walks the tree against a ``MetricSource``; any
missing input makes the result ``None`` ("no data"), never a division error or NaN.

Units: ``ms s m h d`` are durations in milliseconds (latencies are stored in ms), ``%``
divides by 100, ``KB MB GB`` are bytes (1024-based), ``$`` is plain US dollars.

Limits: a window is at most ``MAX_WINDOW`` (400 days: a year and a month, for year-over-year
comparisons), ``trend`` looks back 1 to ``MAX_TREND_DAYS`` (28) days, and a quantile is in
0..1. Each is checked at load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

from monitoring.alerts.source import MetricSource, Window
from monitoring.kpi.metrics import METRICS, MetricDef

__all__ = [
    "DERIVED",
    "FUNCTIONS",
    "MAX_TREND_DAYS",
    "MAX_WINDOW",
    "CompiledCondition",
    "ConditionError",
    "EvalContext",
    "compile_condition",
    "parse_duration",
]

Value = float | bool | None
WindowSpec = timedelta | Literal["today"]

# Decimal, so a literal is scaled exactly and rounded to a float once: in floats 57 * 0.01
# is 0.5700000000000001 and 2.01 * 1000 is 2010.0000000000002, and `error_rate >= 57%` missed
# a ratio of exactly 0.57 (while `cache_hit_rate < 95%` caught 0.95).
_UNITS = {
    "ms": Decimal(1),
    "s": Decimal(1000),
    "m": Decimal(60_000),
    "h": Decimal(3_600_000),
    "d": Decimal(86_400_000),
    "%": Decimal("0.01"),
    "kb": Decimal(1024),
    "mb": Decimal(1024) ** 2,
    "gb": Decimal(1024) ** 3,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_WINDOW = timedelta(minutes=5)
# Far past any window a rule needs (a year and a month), far short of where reaching back
# from now leaves the datetime range and every evaluation fails with OverflowError.
MAX_WINDOW = timedelta(days=400)
# Four weeks of same-hour baselines; each day is one more query per evaluation.
MAX_TREND_DAYS = 28


@dataclass
class ConditionError:
    """One problem in a condition, at a 1-based line and column inside its text."""

    message: str
    line: int = 1
    column: int = 1


def parse_duration(text: str) -> timedelta:
    """Return ``text`` (``90s``, ``5m``, ``2h``, ``1d``) as a timedelta; raise ValueError."""
    text = text.strip()
    for unit in ("ms", "s", "m", "h", "d"):
        number = text.removesuffix(unit)
        if number != text and number.replace(".", "", 1).isdigit():
            try:
                return timedelta(seconds=float(number) * _DURATION_UNITS[unit])
            except OverflowError:  # past timedelta's ~2.7 million years
                raise ValueError(f"duration {text!r} is too long") from None
    raise ValueError(f"invalid duration {text!r}: write a number and a unit, e.g. 5m, 90s, 2h")


@dataclass
class EvalContext:
    """What one evaluation of one condition needs; ``compared`` collects measured values."""

    source: MetricSource
    now: datetime
    params: Mapping[str, float]
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    compared: list[float | None] = field(default_factory=list)

    def window(self, spec: WindowSpec) -> Window:
        if spec == "today":
            return Window.utc_day(self.now)
        assert isinstance(spec, timedelta)
        return Window.last(self.now, spec)


# Nodes --------------------------------------------------------------------------------------


class Node:
    def eval(self, ctx: EvalContext) -> Value:
        raise NotImplementedError

    def selectors(self) -> Iterator[Agg]:
        return iter(())


def _num(value: Value) -> float | None:
    if value is None:
        return None
    return float(value)


@dataclass
class Const(Node):
    value: float

    def eval(self, ctx: EvalContext) -> Value:
        return self.value


@dataclass
class Param(Node):
    name: str

    def eval(self, ctx: EvalContext) -> Value:
        return ctx.params.get(self.name)


@dataclass
class Agg(Node):
    """One question to the metric source: ``agg`` of ``metric`` over a window and labels."""

    metric: str
    agg: str
    labels: dict[str, str]
    window: WindowSpec
    q: float | None = None
    shift: timedelta = timedelta(0)

    def query_labels(self, ctx: EvalContext) -> dict[str, str]:
        labels = dict(self.labels)
        allowed = METRICS[self.metric].labels
        labels.update({k: v for k, v in ctx.extra_labels.items() if k in allowed})
        return labels

    def eval(self, ctx: EvalContext) -> Value:
        window = ctx.window(self.window).shift(-self.shift)
        if window.end <= window.start:
            return None
        value = ctx.source.aggregate(self.metric, self.agg, window, self.query_labels(ctx), self.q)
        if value is None or math.isnan(value):
            return None
        if METRICS[self.metric].unit == "s" and self.agg not in ("count", "distinct"):
            value *= 1000.0  # every duration in a condition is in milliseconds
        return value

    def selectors(self) -> Iterator[Agg]:
        yield self


@dataclass
class Arith(Node):
    op: str
    left: Node
    right: Node

    def eval(self, ctx: EvalContext) -> Value:
        a, b = _num(self.left.eval(ctx)), _num(self.right.eval(ctx))
        if a is None or b is None:
            return None
        if self.op == "+":
            return a + b
        if self.op == "-":
            return a - b
        if self.op == "*":
            return a * b
        return a / b if b != 0 else None

    def selectors(self) -> Iterator[Agg]:
        yield from self.left.selectors()
        yield from self.right.selectors()


@dataclass
class Neg(Node):
    inner: Node

    def eval(self, ctx: EvalContext) -> Value:
        value = _num(self.inner.eval(ctx))
        return None if value is None else -value

    def selectors(self) -> Iterator[Agg]:
        return self.inner.selectors()


@dataclass
class Ratio(Node):
    """``num / den`` of two counts; missing numerator events count as zero."""

    num: Node
    den: Node

    def eval(self, ctx: EvalContext) -> Value:
        den = _num(self.den.eval(ctx))
        if not den:
            return None
        return (_num(self.num.eval(ctx)) or 0.0) / den

    def selectors(self) -> Iterator[Agg]:
        yield from self.num.selectors()
        yield from self.den.selectors()


@dataclass
class SumOf(Node):
    """Add counts where a missing one is zero; ``None`` only when every part is missing."""

    parts: list[Node]

    def eval(self, ctx: EvalContext) -> Value:
        values = [_num(part.eval(ctx)) for part in self.parts]
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    def selectors(self) -> Iterator[Agg]:
        for part in self.parts:
            yield from part.selectors()


@dataclass
class Absent(Node):
    """1 when the selector has no data in its window, else 0 (never "no data" itself)."""

    inner: Agg

    def eval(self, ctx: EvalContext) -> Value:
        probe = Agg(self.inner.metric, "count", self.inner.labels, self.inner.window)
        return 1.0 if probe.eval(ctx) is None else 0.0

    def selectors(self) -> Iterator[Agg]:
        yield self.inner


@dataclass
class Trend(Node):
    """Current value over its window divided by the mean of the same window on each of the
    previous ``days`` days (1.5 = 50 % worse than usual); ``None`` without a baseline."""

    inner: Agg
    days: int = 7

    def eval(self, ctx: EvalContext) -> Value:
        current = _num(self.inner.eval(ctx))
        past = []
        for day in range(1, self.days + 1):
            shifted = Agg(
                self.inner.metric,
                self.inner.agg,
                self.inner.labels,
                self.inner.window,
                self.inner.q,
                timedelta(days=day),
            )
            value = _num(shifted.eval(ctx))
            if value is not None:
                past.append(value)
        baseline = sum(past) / len(past) if past else None
        if current is None or not baseline:
            return None
        return current / baseline

    def selectors(self) -> Iterator[Agg]:
        yield self.inner


@dataclass
class Compare(Node):
    op: str
    left: Node
    right: Node

    def eval(self, ctx: EvalContext) -> Value:
        a, b = _num(self.left.eval(ctx)), _num(self.right.eval(ctx))
        ctx.compared.append(a)
        if a is None or b is None:
            return None
        return {
            ">": a > b,
            ">=": a >= b,
            "<": a < b,
            "<=": a <= b,
            "==": a == b,
            "!=": a != b,
        }[self.op]

    def selectors(self) -> Iterator[Agg]:
        yield from self.left.selectors()
        yield from self.right.selectors()


@dataclass
class BoolOp(Node):
    """Three-valued ``and``/``or``: a decisive side wins over "no data" on the other."""

    op: Literal["and", "or"]
    left: Node
    right: Node

    def eval(self, ctx: EvalContext) -> Value:
        a, b = self.left.eval(ctx), self.right.eval(ctx)
        a = None if a is None else bool(a)
        b = None if b is None else bool(b)
        if self.op == "and":
            if a is False or b is False:
                return False
            return None if a is None or b is None else True
        if a is True or b is True:
            return True
        return None if a is None or b is None else False

    def selectors(self) -> Iterator[Agg]:
        yield from self.left.selectors()
        yield from self.right.selectors()


@dataclass
class Not(Node):
    inner: Node

    def eval(self, ctx: EvalContext) -> Value:
        value = self.inner.eval(ctx)
        return None if value is None else not bool(value)

    def selectors(self) -> Iterator[Agg]:
        return self.inner.selectors()


# Named series and functions -------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """A named series built from catalogue metrics; label filters apply to every part."""

    help: str
    metrics: tuple[str, ...]
    window: WindowSpec
    build: Callable[[dict[str, str], WindowSpec], Node]


def _ratio(num: str, den: str, window: WindowSpec, help: str) -> Derived:
    return Derived(
        help,
        (num, den),
        window,
        lambda labels, w: Ratio(Agg(num, "sum", labels, w), Agg(den, "sum", labels, w)),
    )


def _quantile(metric: str, q: float, help: str) -> Derived:
    return Derived(
        help, (metric,), DEFAULT_WINDOW, lambda labels, w: Agg(metric, "quantile", labels, w, q)
    )


DERIVED: dict[str, Derived] = {
    "error_rate": _ratio(
        "api_errors", "api_requests", DEFAULT_WINDOW, "API 5xx responses / requests (0..1), 5m"
    ),
    "function_error_rate": _ratio(
        "function_errors", "function_invocations", DEFAULT_WINDOW, "Failed / all invocations, 5m"
    ),
    "bounce_rate": _ratio(
        "session_bounces", "sessions", timedelta(hours=1), "Bounced / all sessions, 1h"
    ),
    "p50_response_time": _quantile("api_response_time_ms", 0.5, "API P50 in ms, 5m"),
    "p95_response_time": _quantile("api_response_time_ms", 0.95, "API P95 in ms, 5m"),
    "p99_response_time": _quantile("api_response_time_ms", 0.99, "API P99 in ms, 5m"),
    "p95_function_duration": _quantile("function_duration_ms", 0.95, "Function P95 in ms, 5m"),
    "p95_page_load": _quantile("page_load_ms", 0.95, "Page load P95 in ms, 5m"),
    "p95_prompt_execution": _quantile("prompt_execution_ms", 0.95, "Prompt P95 in ms, 5m"),
    "avg_response_time": Derived(
        "API mean response time in ms, 5m",
        ("api_response_time_ms",),
        DEFAULT_WINDOW,
        lambda labels, w: Agg("api_response_time_ms", "avg", labels, w),
    ),
    "daily_cost": Derived(
        "Prompt spend in USD so far this UTC day",
        ("prompt_cost_usd",),
        "today",
        lambda labels, w: Agg("prompt_cost_usd", "sum", labels, w),
    ),
    "cost_per_execution": _ratio(
        "prompt_cost_usd", "prompt_executions", "today", "USD per prompt execution, today"
    ),
    "cache_hit_rate": Derived(
        "Cache hits / (hits + misses), 5m",
        ("cache_hits", "cache_misses"),
        DEFAULT_WINDOW,
        lambda labels, w: Ratio(
            Agg("cache_hits", "sum", labels, w),
            SumOf([Agg("cache_hits", "sum", labels, w), Agg("cache_misses", "sum", labels, w)]),
        ),
    ),
    "failed_signins": Derived(
        "Failed sign-ins, 5m",
        ("auth_failures",),
        DEFAULT_WINDOW,
        lambda labels, w: Agg("auth_failures", "sum", labels, w),
    ),
    "daily_active_users": Derived(
        "Distinct users seen this UTC day",
        ("active_users",),
        "today",
        lambda labels, w: Agg("active_users", "distinct", labels, w),
    ),
}

# Function name -> (aggregation, fixed quantile). Aggregating functions take one selector.
_AGG_FUNCTIONS: dict[str, tuple[str, float | None]] = {
    "rate": ("rate", None),
    "sum": ("sum", None),
    "count": ("count", None),
    "avg": ("avg", None),
    "min": ("min", None),
    "max": ("max", None),
    "last": ("last", None),
    "distinct": ("distinct", None),
    "p50": ("quantile", 0.5),
    "p90": ("quantile", 0.9),
    "p95": ("quantile", 0.95),
    "p99": ("quantile", 0.99),
}
FUNCTIONS = {
    **{name: f"{agg} of a metric over its window" for name, (agg, _) in _AGG_FUNCTIONS.items()},
    "quantile": "quantile(metric[w], q): q in 0..1 from merged sketches",
    "ratio": "ratio(a[w], b[w]): sum(a) / sum(b); no data when b is empty",
    "absent": "absent(metric[w]): 1 when the metric has no data in the window",
    "trend": "trend(metric[w], q, days=7): value / mean of the same window on past 1..28 days",
    "degradation": "same as trend",
}


def _default_agg(metric: MetricDef) -> str:
    return {"counter": "sum", "distribution": "avg", "gauge": "last", "distinct": "distinct"}[
        metric.kind
    ]


# Compilation --------------------------------------------------------------------------------


@cache
def _parser() -> Any:
    from lark import Lark

    grammar = (Path(__file__).parent / "condition.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass
class CompiledCondition:
    text: str
    root: Node
    for_: timedelta | None

    def evaluate(self, ctx: EvalContext) -> tuple[bool | None, float | None]:
        """Return (breached, measured value); breached ``None`` means no data."""
        result = self.root.eval(ctx)
        value: float | None
        if isinstance(result, bool) or result is None:
            value = ctx.compared[0] if ctx.compared else None
        else:
            value, result = float(result), bool(result)
        return (None if result is None else bool(result)), value

    def selectors(self) -> list[Agg]:
        return list(self.root.selectors())


class _Compiler:
    def __init__(self, params: Mapping[str, float]) -> None:
        self.params = params
        self.errors: list[ConditionError] = []

    def error(self, tree: Any, message: str) -> Node:
        meta = getattr(tree, "meta", None)
        line = getattr(meta, "line", None) or getattr(tree, "line", None) or 1
        column = getattr(meta, "column", None) or getattr(tree, "column", None) or 1
        self.errors.append(ConditionError(message, line, column))
        return Const(0.0)

    def node(self, tree: Any) -> Node:
        from lark import Token

        if isinstance(tree, Token):
            return self.error(tree, f"unexpected {tree!s}")
        kind = tree.data
        kids = tree.children
        if kind in ("number", "quantity", "money"):
            return self.constant(tree)
        if kind in ("add", "sub", "mul", "div"):
            symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[kind]
            return Arith(symbol, self.node(kids[0]), self.node(kids[1]))
        if kind == "neg":
            return Neg(self.node(kids[0]))
        if kind == "compare":
            return Compare(str(kids[1]), self.node(kids[0]), self.node(kids[2]))
        if kind in ("and_", "or_"):
            op: Literal["and", "or"] = "and" if kind == "and_" else "or"
            return BoolOp(op, self.node(kids[0]), self.node(kids[1]))
        if kind == "not_":
            return Not(self.node(kids[0]))
        if kind == "selector":
            return self.bare_name(tree)
        if kind == "call":
            return self.call(tree)
        return self.error(tree, f"unexpected {kind}")

    def constant(self, tree: Any) -> Node:
        text = str(tree.children[0])
        if tree.data == "number":
            value = float(text)
        elif tree.data == "quantity":
            digits = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ%")
            value = float(Decimal(digits) * _UNITS[text[len(digits) :].lower()])
        else:
            value = float(text[1:])
        if not math.isfinite(value):  # 1e999 is inf: every comparison would be constant
            return self.error(tree, f"number {text} is too large")
        return Const(value)

    def selector_parts(
        self, tree: Any
    ) -> tuple[str, dict[str, str], WindowSpec | None, bool] | None:
        """Return (name, label filters, window, ok) of a selector tree."""
        name = str(tree.children[0])
        labels: dict[str, str] = {}
        window: WindowSpec | None = None
        ok = True
        for part in tree.children[1:]:
            if part.data == "matchers":
                for matcher in part.children:
                    label, op, raw = (str(x) for x in matcher.children)
                    if op != "=":
                        self.error(matcher, f"only = label filters are supported, not {op}")
                        ok = False
                    labels[label] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            else:
                text = str(part.children[0])
                try:
                    window = "today" if text == "today" else parse_duration(text)
                except ValueError as error:
                    self.error(part, str(error))
                    ok = False
                    continue
                if window != "today" and window < timedelta(minutes=1):
                    self.error(part, f"window {text} is shorter than one minute")
                    ok = False
                elif window != "today" and window > MAX_WINDOW:
                    longest = f"{MAX_WINDOW.days}d"
                    self.error(part, f"window {text} is longer than the maximum, {longest}")
                    ok = False
        return name, labels, window, ok

    def check_labels(self, tree: Any, metrics: tuple[str, ...], labels: dict[str, str]) -> bool:
        for metric in metrics:
            allowed = METRICS[metric].labels
            for label in labels:
                if label not in allowed:
                    self.error(
                        tree,
                        f"metric {metric!r} has no label {label!r} "
                        f"(labels: {', '.join(allowed) or 'none'})",
                    )
                    return False
        return True

    def bare_name(self, tree: Any) -> Node:
        parts = self.selector_parts(tree)
        assert parts is not None
        name, labels, window, _ = parts
        has_suffix = len(tree.children) > 1
        if name in self.params:
            if has_suffix:
                return self.error(tree, f"parameter {name!r} takes no labels or window")
            return Param(name)
        if name in DERIVED:
            derived = DERIVED[name]
            self.check_labels(tree, derived.metrics, labels)
            return derived.build(labels, window or derived.window)
        if name in METRICS:
            self.check_labels(tree, (name,), labels)
            metric = METRICS[name]
            default: WindowSpec = "today" if metric.kind == "distinct" else DEFAULT_WINDOW
            return Agg(name, _default_agg(metric), labels, window or default)
        return self.error(
            tree,
            f"unknown metric, series or parameter {name!r}; expected a metric from the KPI "
            f"catalogue, a named series ({', '.join(sorted(DERIVED))}) or a param",
        )

    def metric_arg(self, tree: Any, function: str) -> Agg | None:
        from lark import Tree

        if not (isinstance(tree, Tree) and tree.data == "selector"):
            self.error(tree, f"{function}() expects a metric such as api_requests[5m]")
            return None
        parts = self.selector_parts(tree)
        assert parts is not None
        name, labels, window, _ = parts
        if name not in METRICS:
            self.error(tree, f"{function}() expects a metric from the KPI catalogue, not {name!r}")
            return None
        self.check_labels(tree, (name,), labels)
        return Agg(name, "sum", labels, window or DEFAULT_WINDOW)

    def sketched(self, tree: Any, metric: str, function: str) -> bool:
        kind = METRICS[metric].kind
        if kind != "distribution":
            self.error(tree, f"{function}() needs a distribution; {metric!r} is a {kind}")
            return False
        return True

    def number_arg(self, tree: Any, function: str, what: str) -> float | None:
        node = self.node(tree)
        if not isinstance(node, Const):
            self.error(tree, f"{function}() expects {what} as a number")
            return None
        return node.value

    def quantile_arg(self, tree: Any, function: str) -> float | None:
        q = self.number_arg(tree, function, "a quantile in 0..1")
        if q is not None and not 0 <= q <= 1:
            self.error(tree, f"quantile {_show(q)} is outside 0..1")
            return None
        return q

    def days_arg(self, tree: Any, function: str) -> int:
        days = self.number_arg(tree, function, "a number of days")
        # Each day is one more query per evaluation, and a huge count also reaches back past
        # the datetime range; 0 must not quietly mean the default 7.
        if days is not None and not (days.is_integer() and 1 <= days <= MAX_TREND_DAYS):
            self.error(
                tree, f"{function}() looks back 1 to {MAX_TREND_DAYS} days, not {_show(days)}"
            )
        return int(days) if days is not None and days.is_integer() else 7

    def call(self, tree: Any) -> Node:
        name = str(tree.children[0])
        args = list(tree.children[1:])
        if name in _AGG_FUNCTIONS or name == "quantile":
            agg, q = _AGG_FUNCTIONS.get(name, ("quantile", None))
            want = 2 if name == "quantile" else 1
            if len(args) != want:
                return self.error(tree, f"{name}() takes {want} argument(s), got {len(args)}")
            sel = self.metric_arg(args[0], name)
            if name == "quantile":
                q = self.quantile_arg(args[1], name)
            if sel is None:
                return Const(0.0)
            if agg == "quantile" and not self.sketched(args[0], sel.metric, name):
                return Const(0.0)
            return Agg(sel.metric, agg, sel.labels, sel.window, q)
        if name == "ratio":
            if len(args) != 2:
                return self.error(tree, f"ratio() takes 2 arguments, got {len(args)}")
            num, den = self.metric_arg(args[0], name), self.metric_arg(args[1], name)
            if num is None or den is None:
                return Const(0.0)
            return Ratio(num, den)
        if name == "absent":
            if len(args) != 1:
                return self.error(tree, f"absent() takes 1 argument, got {len(args)}")
            sel = self.metric_arg(args[0], name)
            return Absent(sel) if sel else Const(0.0)
        if name in ("trend", "degradation"):
            if not 1 <= len(args) <= 3:
                return self.error(tree, f"{name}() takes 1 to 3 arguments, got {len(args)}")
            sel = self.metric_arg(args[0], name)
            q = self.quantile_arg(args[1], name) if len(args) > 1 else None
            days = self.days_arg(args[2], name) if len(args) > 2 else 7
            if sel is None:
                return Const(0.0)
            metric = METRICS[sel.metric]
            if q is not None and not self.sketched(args[0], sel.metric, name):
                return Const(0.0)
            agg = "quantile" if q is not None else _default_agg(metric)
            return Trend(Agg(sel.metric, agg, sel.labels, sel.window, q), days)
        return self.error(
            tree, f"unknown function {name!r}; expected one of {', '.join(sorted(FUNCTIONS))}"
        )


def _show(number: float) -> str:
    """Return ``number`` as written in a condition: 100000000, not 1e+08 or 100000000.0."""
    return str(int(number)) if number.is_integer() and abs(number) < 1e18 else str(number)


def _describe_expected(expected: set[str]) -> str:
    names = {
        "NAME": "a metric or name",
        "NUMBER": "a number",
        "QUANTITY": "a number with a unit",
        "DURATION": "a duration like 5m",
        "CMP_OP": "a comparison",
        "RPAR": "')'",
        "LPAR": "'('",
        "RSQB": "']'",
        "RBRACE": "'}'",
        "STRING": 'a quoted string like "x"',
        "MATCH_OP": "'='",
        "COMMA": "','",
    }
    readable = sorted({names.get(term, term.lower()) for term in expected})
    return ", ".join(readable[:6])


def compile_condition(
    text: str, params: Mapping[str, float]
) -> tuple[CompiledCondition | None, list[ConditionError]]:
    """Return the compiled condition, or ``None`` and every problem found with its position."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    try:
        tree = _parser().parse(text)
    except UnexpectedToken as error:
        expected = _describe_expected(error.expected)
        if error.token.type == "$END":
            lines = text.splitlines() or [""]
            message = f"unexpected end of condition; expected {expected}"
            return None, [ConditionError(message, len(lines), len(lines[-1]) + 1)]
        message = f"unexpected {str(error.token)!r}; expected {expected}"
        return None, [ConditionError(message, error.line, error.column)]
    except UnexpectedCharacters as error:
        pos = error.pos_in_stream or 0
        char = text[pos] if pos < len(text) else "?"
        return None, [ConditionError(f"unexpected character {char!r}", error.line, error.column)]
    except UnexpectedEOF as error:
        message = f"condition ends early; expected {_describe_expected(set(error.expected))}"
        return None, [ConditionError(message, 1, len(text) + 1)]

    compiler = _Compiler(params)
    root = compiler.node(tree.children[0])
    for_: timedelta | None = None
    if len(tree.children) > 1:
        try:
            for_ = parse_duration(str(tree.children[1].children[0]))
        except ValueError as error:
            compiler.error(tree.children[1], str(error))
    if compiler.errors:
        return None, compiler.errors
    return CompiledCondition(text, root, for_), []
