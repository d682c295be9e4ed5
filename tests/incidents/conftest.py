"""A real Firebase Auth emulator for the lockdown test, when firebase-tools is installed."""

from __future__ import annotations

import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT

HERE = Path(__file__).resolve().parent


def _firebase_tools() -> Path | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=False)
    folder = Path(root.stdout.strip()) / "firebase-tools"
    return folder if (folder / "lib/emulator/auth/server.js").exists() else None


@pytest.fixture(scope="session")
def auth_emulator() -> Iterator[str]:
    """Return host:port of firebase-tools' Auth emulator (skips when it is not installed)."""
    tools = _firebase_tools()
    if tools is None:
        pytest.skip("firebase-tools is not installed (npm i -g firebase-tools)")
    process = subprocess.Popen(
        ["node", str(HERE / "auth_emulator.js"), str(tools), PROJECT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    # Loading firebase-tools takes 10-25 s; wait for the port line, but not forever.
    ready, _, _ = select.select([process.stdout], [], [], 120)
    line = process.stdout.readline() if ready else "(no answer within 120 s)"
    if not line.startswith("READY "):
        process.kill()
        pytest.fail(f"the Auth emulator did not start: {line!r}")
    yield f"127.0.0.1:{line.split()[1]}"
    process.terminate()
    process.wait(timeout=10)
