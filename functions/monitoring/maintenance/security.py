"""Security checks of the daily report that need no KPI: rules, secrets, dependencies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

__all__ = [
    "AuditResult",
    "OpenWrite",
    "RotationDue",
    "audit_dependencies",
    "open_writes",
    "rotations_due",
]

_WRITE_OPS = {"write", "create", "update", "delete"}
_ALLOW = re.compile(r"allow\s+([a-z,\s]+?)\s*(?::\s*if\s+(.*?))?;", re.S)
_MATCH = re.compile(r"match\s+(\S+)\s*\{")
_COMMENT = re.compile(r"//[^\n]*")


@dataclass(frozen=True)
class OpenWrite:
    line: int
    path: str
    operations: str
    condition: str


def open_writes(rules: str) -> list[OpenWrite]:
    """Return the ``allow`` statements of a firestore.rules text that let a caller without
    ``request.auth`` write: no condition, ``if true``, or a condition with an alternative
    (``a || b``) that neither names ``request.auth`` nor calls a rules function that does
    (``isUser(uid)``). Conditions that are plainly false are fine. A heuristic, not a proof:
    ``request.auth == null`` still counts as naming it.
    """
    text = _COMMENT.sub(lambda m: " " * len(m.group()), rules)
    guards = _auth_functions(text)
    # Walk the text once, tracking which ``match`` block each position is in.
    stack: list[str] = []
    opened: list[bool] = []
    found = []
    position = 0
    tokens = re.compile(r"match\s+\S+\s*\{|\{|\}|allow\s[^;]*;", re.S)
    for token in tokens.finditer(text):
        chunk = token.group()
        position = token.start()
        if chunk.startswith("match"):
            stack.append(_MATCH.match(chunk).group(1))  # type: ignore[union-attr]
            opened.append(True)
        elif chunk == "{":
            opened.append(False)
        elif chunk == "}":
            if opened and opened.pop() and stack:
                stack.pop()
        else:
            allow = _ALLOW.match(chunk)
            if allow is None:
                continue
            ops = {op.strip() for op in allow.group(1).split(",") if op.strip()}
            condition = " ".join((allow.group(2) or "true").split())
            if not ops & _WRITE_OPS or condition == "false":
                continue
            if _requires_auth(condition, guards):
                continue
            found.append(
                OpenWrite(
                    line=text.count("\n", 0, position) + 1,
                    path="".join(stack) or "/",
                    operations=", ".join(sorted(ops)),
                    condition=condition,
                )
            )
    return found


_FUNCTION = re.compile(r"function\s+(\w+)\s*\([^)]*\)\s*\{(.*?)\breturn\s+(.*?);\s*\}", re.S)


def _alternatives(condition: str) -> list[str]:
    """Split ``condition`` at its top-level ``||``."""
    parts, depth, current = [], 0, ""
    i = 0
    while i < len(condition):
        char = condition[i]
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and condition.startswith("||", i):
            parts.append(current)
            current, i = "", i + 2
            continue
        current += char
        i += 1
    return [*parts, current]


def _requires_auth(condition: str, guards: set[str]) -> bool:
    def mentions(part: str) -> bool:
        return "request.auth" in part or any(re.search(rf"\b{g}\s*\(", part) for g in guards)

    return all(mentions(part) for part in _alternatives(condition))


def _auth_functions(text: str) -> set[str]:
    """Return the rules functions whose every path needs a signed-in caller."""
    bodies = {m.group(1): m.group(3) for m in _FUNCTION.finditer(text)}
    guards: set[str] = set()
    changed = True
    while changed:  # functions call functions: repeat until nothing new is learnt
        changed = False
        for name, body in bodies.items():
            if name not in guards and _requires_auth(body, guards):
                guards.add(name)
                changed = True
    return guards


@dataclass(frozen=True)
class RotationDue:
    name: str
    due: date
    days_left: int


def rotations_due(due_dates: dict[str, date], today: date, warn_days: int) -> list[RotationDue]:
    """Return secrets due for rotation within ``warn_days`` (negative days: overdue)."""
    horizon = today + timedelta(days=warn_days)
    return sorted(
        (
            RotationDue(name, due, (due - today).days)
            for name, due in due_dates.items()
            if due <= horizon
        ),
        key=lambda r: r.days_left,
    )


@dataclass(frozen=True)
class AuditResult:
    ran: bool
    reason: str = ""
    # (package, version, vulnerability id, fixed versions)
    findings: tuple[tuple[str, str, str, str], ...] = ()


def audit_dependencies(requirements: Path, timeout_s: float) -> AuditResult:
    """Run ``pip-audit`` on ``requirements`` when it is installed; otherwise say it was not.

    pip-audit is the PyPA's maintained auditor (it checks the PyPI/OSV advisory databases).
    """
    executable = shutil.which("pip-audit")
    if executable is None:
        return AuditResult(False, "pip-audit is not installed")
    if not requirements.exists():
        return AuditResult(False, f"{requirements.name} not found")
    try:
        done = subprocess.run(
            [executable, "-r", str(requirements), "--format", "json", "--progress-spinner", "off"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return AuditResult(False, f"pip-audit took longer than {timeout_s:.0f} s")
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        first = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return AuditResult(False, f"pip-audit failed: {first}")
    findings = []
    for dependency in data.get("dependencies", data if isinstance(data, list) else []):
        for vuln in dependency.get("vulns", []):
            findings.append(
                (
                    str(dependency.get("name")),
                    str(dependency.get("version")),
                    str(vuln.get("id")),
                    ", ".join(vuln.get("fix_versions", [])) or "none yet",
                )
            )
    return AuditResult(True, findings=tuple(findings))
