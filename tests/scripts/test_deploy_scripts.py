"""The deployment scripts, run for real with recording stand-ins for firebase and firewatch."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))


def stand_in(directory: Path, name: str, exit_code: int = 0, output: str = "") -> Path:
    """A command that appends its arguments to ``calls.log`` and exits with ``exit_code``."""
    path = directory / name
    path.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "{name} $*" >> "{directory}/calls.log"\n'
        f"printf '%s' '{output}'\n"
        f"exit {exit_code}\n"
    )
    path.chmod(0o755)
    return path


def calls(directory: Path) -> list[str]:
    log = directory / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, str]:
    return {
        "FIREBASE": str(stand_in(tmp_path, "firebase")),
        "FIREWATCH": str(stand_in(tmp_path, "firewatch", output='{"worse": false}')),
        "CHECK": str(stand_in(tmp_path, "check")),
        "HEALTH_CHECK": str(stand_in(tmp_path, "health_check")),
        "MONITOR": str(stand_in(tmp_path, "monitor")),
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_script_passes_shellcheck_and_uses_strict_mode(script: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "set -euo pipefail" in script.read_text()


def test_dry_run_prints_every_step_and_runs_nothing(tools, tmp_path) -> None:
    result = run(
        "zero_downtime_deploy.sh",
        "--project",
        "rag-prod",
        "--health-url",
        "https://x/health_check",
        "--dry-run",
        env=tools,
    )
    assert result.returncode == 0
    steps = [line for line in result.stdout.splitlines() if line.startswith("==> step")]
    assert [s.split(": ", 1)[1] for s in steps] == [
        "tests",
        "lint and type checks",
        "validate alerts.yaml",
        "deploy functions",
        "deploy hosting",
        "health check",
        "watch error rate and P95 for 10 min",
    ]
    assert (
        "would run: " + tools["FIREBASE"] + " deploy --only functions --project rag-prod"
        in result.stdout
    )
    assert calls(tmp_path) == []


def test_deploy_runs_the_steps_in_order(tools, tmp_path) -> None:
    result = run(
        "zero_downtime_deploy.sh",
        "--project",
        "rag-prod",
        "--health-url",
        "https://x/h",
        "--skip-tests",
        "--minutes",
        "3",
        env=tools,
    )
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == [
        "check ",
        "firewatch alerts validate alerts.yaml",
        "firebase deploy --only functions --project rag-prod --non-interactive",
        "firebase deploy --only hosting --project rag-prod --non-interactive",
        "health_check https://x/h",
        "monitor --minutes 3 --project rag-prod",
    ]


def test_deploy_stops_at_the_first_failure_and_names_it(tools, tmp_path) -> None:
    tools["FIREBASE"] = str(stand_in(tmp_path, "firebase", exit_code=1))
    result = run(
        "zero_downtime_deploy.sh",
        "--project",
        "p-1",
        "--health-url",
        "https://x/h",
        "--skip-tests",
        env=tools,
    )
    assert result.returncode == 1
    assert "step 3 (deploy functions) failed; nothing after it ran." in result.stderr
    assert not any(c.startswith(("health_check", "monitor")) for c in calls(tmp_path))


def test_deploy_without_project_is_a_usage_error(tools) -> None:
    result = run("zero_downtime_deploy.sh", "--dry-run", env=tools)
    assert result.returncode == 2
    assert "--project and --health-url are required" in result.stderr


def test_monitor_exits_1_and_prints_rollback_when_worse(tmp_path) -> None:
    firewatch = stand_in(tmp_path, "firewatch", exit_code=1, output='{"worse": true}')
    result = run(
        "monitor_deployment.sh",
        "--minutes",
        "5",
        "--interval",
        "0",
        "--project",
        "rag-prod",
        env={"FIREWATCH": str(firewatch)},
    )
    assert result.returncode == 1
    assert "firebase deploy --only functions --project rag-prod" in result.stderr
    assert len(calls(tmp_path)) == 1  # stopped at the first bad check


def test_monitor_holds_when_every_check_passes(tmp_path) -> None:
    firewatch = stand_in(tmp_path, "firewatch", output='{"worse": false}')
    # A zero interval runs one check per minute of the watch without waiting between them.
    result = run(
        "monitor_deployment.sh",
        "--minutes",
        "2",
        "--interval",
        "0",
        "--since",
        "2026-12-03T10:00:00Z",
        env={"FIREWATCH": str(firewatch)},
    )
    assert result.returncode == 0
    assert "held for 2 min" in result.stdout
    assert (
        calls(tmp_path)
        == ["firewatch deploy check --since 2026-12-03T10:00:00Z --margin 0.2 --json"] * 2
    )
