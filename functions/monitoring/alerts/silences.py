"""Silences and maintenance windows: matchers over alert labels, a start and an end.

A silence suppresses notifications only. State, transitions and history go on as usual, so
when a silence ends on a still-firing alert, the next evaluation sends its firing message.

Regex matchers run against label values the clients send (an endpoint, up to 200 characters)
on every evaluation, and Python's ``re`` has no timeout. So a new matcher's regex may not
repeat a group that itself holds a quantifier or ``|`` (``(a+)+$``, ``(a|a)*``: exponential),
nor hold more than ``MAX_QUANTIFIERS`` variable quantifiers (``.*.*.*.*x``: a power of the
length). Silences stored before this rule load as they are.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from monitoring.clock import as_utc
from monitoring.errors import InputError, NotFound
from monitoring.store import Collections

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "Matcher",
    "Silence",
    "active_silences",
    "add_silence",
    "expire_silence",
    "list_silences",
    "parse_matcher",
]

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$")
MAX_QUANTIFIERS = 3
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
# What the loaders pass, so a silence stored before the regex rule still loads and applies.
STORED = {"stored": True}


class Matcher(BaseModel):
    name: str
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str

    @model_validator(mode="after")
    def _regex_compiles(self, info: ValidationInfo) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as error:
                raise ValueError(f"matcher {self.name}: invalid regex ({error})") from None
            problem = None if (info.context or {}).get("stored") else _slow_regex(self.value)
            if problem:
                raise ValueError(f"matcher {self.name}: regex {self.value!r} {problem}")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def _slow_regex(pattern: str) -> str | None:
    """Return why ``pattern`` can backtrack for too long on a label value, or ``None``."""
    # The parser re.compile uses (private, but the only exact reading of a pattern).
    parser: Any = importlib.import_module("re._parser")
    stack: list[tuple[Any, bool]] = [(parser.parse(pattern), False)]
    variable = 0
    while stack:
        items, repeated = stack.pop()
        for op, arg in items:
            kind = str(op)
            if kind in _REPEATS:
                low, high, body = arg
                varies = low != high
                if repeated and varies:
                    return "repeats a group that holds a quantifier (it can backtrack for hours)"
                variable += varies
                # An optional group (at most once) is tried once or not: no blow-up.
                stack.append((body, repeated or (varies and high > 1)))
            elif kind == "BRANCH":
                if repeated:
                    return "repeats a group that holds | (it can backtrack for hours)"
                stack.extend((branch, repeated) for branch in arg[1])
            elif kind == "SUBPATTERN":
                stack.append((arg[3], repeated))
            elif kind in ("ASSERT", "ASSERT_NOT"):
                stack.append((arg[1], repeated))
            elif kind == "GROUPREF_EXISTS":
                stack.extend((branch, repeated) for branch in arg[1:] if branch is not None)
    if variable > MAX_QUANTIFIERS:
        return (
            f"has {variable} quantifiers, more than {MAX_QUANTIFIERS} (it can backtrack for hours)"
        )
    return None


def parse_matcher(text: str) -> Matcher:
    """Return the matcher written as ``name=value`` (or ``!=``, ``=~``, ``!~``)."""
    found = _MATCHER.match(text)
    if not found:
        raise InputError(f"invalid matcher {text!r}: write label=value, e.g. alertname=high_p95")
    name, op, value = found.groups()
    return Matcher(name=name, op=op, value=value)


class Silence(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    kind: Literal["silence", "maintenance"] = "silence"
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    author: str = Field(min_length=1)
    comment: str = Field(min_length=1)
    created_at: datetime | None = None

    _utc = field_validator("starts_at", "ends_at", "created_at")(
        lambda v: None if v is None else as_utc(v)
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> Silence:
        if self.ends_at < self.starts_at:
            raise ValueError("a silence must end after it starts")
        return self

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def _collection(settings: Settings, client: Any = None) -> Any:
    from monitoring.store import firestore_client

    return (client or firestore_client(settings)).collection(Collections.SILENCES)


def add_silence(settings: Settings, silence: Silence, *, now: datetime) -> Silence:
    """Store ``silence`` and return it with its creation time."""
    stored = silence.model_copy(update={"created_at": as_utc(now)})
    _collection(settings).document(stored.id).set(stored.model_dump(mode="python"))
    return stored


def list_silences(
    settings: Settings, now: datetime, *, include_expired: bool = False
) -> list[Silence]:
    """Return silences that are active or scheduled (all of them with ``include_expired``)."""
    silences = [
        Silence.model_validate(s.to_dict(), context=STORED) for s in _collection(settings).stream()
    ]
    if not include_expired:
        silences = [s for s in silences if s.ends_at > as_utc(now)]
    return sorted(silences, key=lambda s: s.starts_at)


def active_silences(settings: Settings, now: datetime, client: Any = None) -> list[Silence]:
    """Return the silences in force at ``now`` (one query on ``ends_at``)."""
    from google.cloud.firestore import FieldFilter

    query = _collection(settings, client).where(filter=FieldFilter("ends_at", ">", as_utc(now)))
    found = [Silence.model_validate(s.to_dict(), context=STORED) for s in query.stream()]
    return [s for s in found if s.active(as_utc(now))]


def expire_silence(settings: Settings, silence_id: str, *, now: datetime) -> Silence:
    """End the silence ``silence_id`` at ``now``; raise ``NotFound`` if there is none."""
    ref = _collection(settings).document(silence_id)
    snap = ref.get()
    if not snap.exists:
        raise NotFound(f"no silence with id {silence_id!r}; list them with alerts silence list")
    silence = Silence.model_validate(snap.to_dict(), context=STORED)
    end = as_utc(now)
    if end < silence.ends_at:
        # A silence that has not started yet ends before it starts: empty, never active.
        start = min(silence.starts_at, end)
        ref.update({"starts_at": start, "ends_at": end})
        silence = silence.model_copy(update={"starts_at": start, "ends_at": end})
    return silence
