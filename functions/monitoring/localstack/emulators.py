"""Start the local emulators: the official Firestore emulator and a Cloud Storage emulator.

The Firestore emulator is the gcloud SDK's ``cloud-firestore-emulator`` jar (or the Firebase
CLI's cached one, or a jar named by ``FIREWATCH_FIRESTORE_EMULATOR_JAR``), started with
``java`` on a free loopback port. The gcloud jar has no ``Main-Class`` so it is started from
the classpath, which is also the fastest way (about a second to ready).

The Storage emulator is the ``gcp-storage-emulator`` package, served from a thread of this
process with in-memory storage.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from monitoring.errors import EmulatorError

__all__ = [
    "FirestoreEmulator",
    "StorageEmulator",
    "find_firestore_emulator",
    "free_port",
]

logger = logging.getLogger(__name__)

FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
JAR_ENV = "FIREWATCH_FIRESTORE_EMULATOR_JAR"

INSTALL_HELP = (
    "Firewatch runs its tests and local stack against the official Firestore emulator, "
    "which needs Java 17 or newer and the emulator jar. Install Java with "
    "`apt-get install -y default-jre-headless` (or any JDK on PATH), then the emulator with "
    "`gcloud components install cloud-firestore-emulator` (or `apt-get install "
    "google-cloud-cli-firestore-emulator`), or point FIREWATCH_FIRESTORE_EMULATOR_JAR at a "
    "cloud-firestore-emulator jar. "
)


def _die_with_parent() -> None:
    """Ask Linux to stop the child when this process dies, however it dies.

    The emulator runs in its own session (so a Ctrl-C in the terminal reaches us first, and we
    stop it in order); without this, a killed test run or dev host would leave the Java
    process running. Linux ties this to the thread that started the child, so start emulators
    from a thread that lives as long as they should (the main thread). Elsewhere than Linux
    this does nothing.
    """
    import ctypes
    import ctypes.util
    import signal

    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(name, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class EmulatorJar:
    path: Path
    runnable_jar: bool  # True for the Firebase CLI's jar, which has a Main-Class


def _sdk_roots() -> list[Path]:
    roots = []
    gcloud = shutil.which("gcloud")
    if gcloud:
        # <root>/bin/gcloud, possibly behind a symlink in /usr/bin.
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
    roots += [
        Path("/usr/lib/google-cloud-sdk"),
        Path("/usr/share/google-cloud-sdk"),
        Path.home() / "google-cloud-sdk",
        Path("/opt/google-cloud-sdk"),
    ]
    return roots


def find_firestore_emulator() -> EmulatorJar:
    """Return the emulator jar to run; raise ``EmulatorError`` saying how to install one."""
    explicit = os.environ.get(JAR_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise EmulatorError(f"{JAR_ENV} points at {path}, which is not a file. " + INSTALL_HELP)
        return EmulatorJar(path, runnable_jar=False)

    for root in _sdk_roots():
        jar = root / "platform" / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
        if jar.is_file():
            return EmulatorJar(jar, runnable_jar=False)

    cache = os.environ.get(
        "FIREBASE_EMULATORS_PATH", str(Path.home() / ".cache/firebase/emulators")
    )
    cached = sorted(glob.glob(os.path.join(cache, "cloud-firestore-emulator-v*.jar")))
    if cached:
        return EmulatorJar(Path(cached[-1]), runnable_jar=True)

    raise EmulatorError("The Firestore emulator was not found. " + INSTALL_HELP)


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise EmulatorError("Java was not found on PATH. " + INSTALL_HELP)
    return java


@dataclass
class FirestoreEmulator:
    """A running Firestore emulator process on 127.0.0.1."""

    project_id: str
    port: int = 0
    rules: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # The emulator logs a few KB to stderr per denied request; an undrained pipe fills up and
    # the emulator then blocks mid-request. A thread keeps only the tail, for error messages.
    _stderr_tail: deque[bytes] = field(default_factory=lambda: deque(maxlen=50), repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, timeout_s: float = 60.0) -> FirestoreEmulator:
        jar = find_firestore_emulator()
        java = _java()
        self.port = self.port or free_port()
        command = [java, "-Duser.language=en", "-XX:TieredStopAtLevel=1"]
        if jar.runnable_jar:
            command += ["-jar", str(jar.path)]
        else:
            command += ["-cp", str(jar.path), FIRESTORE_MAIN_CLASS]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.rules is not None:
            command += ["--rules", str(self.rules)]
        logger.info("starting the Firestore emulator on %s", self.host)
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        threading.Thread(target=self._drain_stderr, name="firestore-stderr", daemon=True).start()
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process.wait()
                stderr = b"".join(self._stderr_tail).decode(errors="replace")
                raise EmulatorError(
                    f"The Firestore emulator exited with status {self._process.returncode} "
                    f"before it was ready: {stderr.strip()[-500:]}. " + INSTALL_HELP
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=1.0).text.strip() == "Ok":
                    return
            time.sleep(0.1)  # polling a child process, not passing test time
        self.stop()
        raise EmulatorError(f"The Firestore emulator did not answer within {timeout_s:.0f} s.")

    def _drain_stderr(self) -> None:
        process = self._process
        if process is None or process.stderr is None:
            return
        with contextlib.suppress(ValueError, OSError):  # closed by stop()
            for line in process.stderr:
                self._stderr_tail.append(line)

    def reset(self) -> None:
        """Delete every document of the project (the emulator's reset endpoint)."""
        url = f"{self.url}/emulator/v1/projects/{self.project_id}/databases/(default)/documents"
        httpx.delete(url, timeout=30.0).raise_for_status()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class StorageEmulator:
    """An in-memory Cloud Storage emulator (gcp-storage-emulator) served from a thread."""

    port: int = 0
    default_bucket: str | None = None
    _server: Any = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StorageEmulator:
        from gcp_storage_emulator.server import create_server

        # The package logs every request at INFO; keep our output readable.
        logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
        self.port = self.port or free_port()
        self._server = create_server(
            "127.0.0.1", self.port, in_memory=True, default_bucket=self.default_bucket
        )
        # The package's server thread is not a daemon, so a process that forgot to stop it
        # would never exit (atexit handlers run only after non-daemon threads end).
        self._server._api.daemon = True
        self._server.start()
        return self

    def reset(self) -> None:
        """Delete every object; buckets stay."""
        self._server.wipe(keep_buckets=True)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> StorageEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
