"""scripts/disaster_recovery.sh with recording stand-ins for firewatch, firebase and gcloud."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "disaster_recovery.sh"

STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$(basename "$0") $1" in
  "gcloud config") echo demo-dr ;;
  "firewatch health") exit "${HEALTH_EXIT:-0}" ;;
esac
exit "${STUB_EXIT:-0}"
"""


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("firewatch", "firebase", "gcloud"):
        stub = bin_dir / name
        stub.write_text(STUB)
        stub.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls.log"),
    }


def _run(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    done = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    calls = Path(env["CALLS"])
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_full_recovery_runs_every_step_in_order(stand_ins: dict[str, str]) -> None:
    done, calls = _run(stand_ins, "--backup", "20260302T0200Z", "--yes")

    assert done.returncode == 0, done.stderr
    assert calls == [
        "gcloud config get-value project",
        "firewatch health",
        "firewatch backup restore-all --actor disaster_recovery.sh --backup 20260302T0200Z --yes",
        "firebase deploy --only functions --project demo-dr --non-interactive",
        "firewatch health",
    ]


def test_dry_run_changes_nothing(stand_ins: dict[str, str]) -> None:
    done, calls = _run(stand_ins, "--dry-run", "--project", "p1")

    assert done.returncode == 0, done.stderr
    assert calls == [
        "firewatch health",
        "firewatch backup restore-all --actor disaster_recovery.sh --dry-run",
    ]
    assert "would run: firebase deploy --only functions --project p1" in done.stdout


def test_each_step_can_be_skipped(stand_ins: dict[str, str]) -> None:
    done, calls = _run(
        stand_ins, "--skip-assess", "--skip-restore", "--skip-verify", "--project", "p1"
    )

    assert done.returncode == 0, done.stderr
    assert calls == ["firebase deploy --only functions --project p1 --non-interactive"]


def test_unhealthy_after_recovery_fails(stand_ins: dict[str, str]) -> None:
    done, calls = _run(
        {**stand_ins, "HEALTH_EXIT": "1"}, "--skip-restore", "--skip-deploy", "--yes"
    )

    assert done.returncode == 1
    assert calls == ["firewatch health", "firewatch health"]  # failing before is expected
    assert "health check failed after recovery" in done.stderr


def test_unknown_option_is_a_usage_error(stand_ins: dict[str, str]) -> None:
    done, _ = _run(stand_ins, "--restore-everything")

    assert done.returncode == 2
    assert "unknown option --restore-everything" in done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_script_passes_shellcheck() -> None:
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stdout
