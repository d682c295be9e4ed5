"""``firewatch dev``: the local stack and a functions host in one process.

Starts the Firestore emulator, the Storage emulator, a mail catcher and a webhook catcher;
points Firewatch's settings at them through the environment; loads ``functions/main.py``
with the functions SDK's own discovery; serves every HTTP function at ``/<name>``; and runs
every scheduled function on its declared schedule. ``POST /__/run/<name>`` runs one now,
``/__/inbox`` shows what the catchers received.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from monitoring.clock import Clock, SystemClock
from monitoring.config import FUNCTIONS_DIR
from monitoring.localstack.catchers import HttpReceiver, MailCatcher
from monitoring.localstack.emulators import FirestoreEmulator, StorageEmulator, free_port
from monitoring.localstack.scheduler import ScheduledJob, Scheduler, scheduled_jobs

__all__ = ["DevHost", "LocalStack", "load_functions", "state_file"]

logger = logging.getLogger("firewatch.dev")

REPO_DIR = FUNCTIONS_DIR.parent


def state_file() -> Path:
    """Where a running dev host writes its URL, for ``firewatch run`` to find it."""
    return Path(os.environ.get("FIREWATCH_STATE_DIR", REPO_DIR / ".firewatch")) / "dev.json"


def adopt_dev_environment() -> dict[str, str]:
    """Point this process at a running ``firewatch dev`` stack, if there is one.

    Only when no emulator is configured already: a terminal command run beside ``make run``
    then reads and writes the same emulators. Returns the variables it set.
    """
    path = state_file()
    if "FIRESTORE_EMULATOR_HOST" in os.environ or not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)  # a dev host that died leaves its file behind
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    published = state.get("environment") or {}
    adopted = {name: str(value) for name, value in published.items() if name not in os.environ}
    os.environ.update(adopted)
    return adopted


@functools.cache
def load_functions() -> dict[str, Any]:
    """Return ``{name: function}`` for main.py, found by the functions SDK's discovery.

    Loaded once per process: main.py declares SDK parameters, and the SDK refuses to
    declare the same parameter twice.
    """
    from firebase_functions.private import serving

    with contextlib.chdir(FUNCTIONS_DIR):
        functions: dict[str, Any] = serving.get_functions()
    return functions


@dataclass
class LocalStack:
    """The emulators and catchers, with the environment that points Firewatch at them."""

    project_id: str = "demo-firewatch"
    bucket: str = "firewatch-backups"
    api_key: str = field(
        default_factory=lambda: os.environ.get("FIREWATCH_API_KEY") or "dev-" + secrets.token_hex(8)
    )
    firestore: FirestoreEmulator = field(init=False)
    storage: StorageEmulator = field(init=False)
    mail: MailCatcher = field(init=False)
    hooks: HttpReceiver = field(init=False)

    def start(self) -> LocalStack:
        self.firestore = FirestoreEmulator(self.project_id, rules=REPO_DIR / "firestore.rules")
        self.firestore.start()
        self.storage = StorageEmulator(default_bucket=self.bucket).start()
        self.mail = MailCatcher().start()
        self.hooks = HttpReceiver().start()
        os.environ.update(self.environment())
        return self

    def environment(self) -> dict[str, str]:
        return {
            "FIREWATCH_PROJECT_ID": self.project_id,
            "GCLOUD_PROJECT": self.project_id,
            "FIRESTORE_EMULATOR_HOST": self.firestore.host,
            "STORAGE_EMULATOR_HOST": self.storage.host,
            # Unsigned ID tokens are accepted only in emulator mode; nothing listens here.
            "FIREBASE_AUTH_EMULATOR_HOST": os.environ.get(
                "FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{free_port()}"
            ),
            "FIREWATCH_BACKUP__BUCKET": self.bucket,
            "FIREWATCH_NOTIFY__SMTP_HOST": "127.0.0.1",
            "FIREWATCH_NOTIFY__SMTP_PORT": str(self.mail.port),
            "FIREWATCH_NOTIFY__SMTP_SECURITY": "none",
            "FIREWATCH_DEV_WEBHOOK_URL": self.hooks.url,
            # Admin endpoints (dashboard, detailed health) need a key; a local one is made up
            # unless the user set their own.
            "FIREWATCH_API_KEY": self.api_key,
        }

    def stop(self) -> None:
        for part in ("hooks", "mail", "storage", "firestore"):
            component = getattr(self, part, None)
            if component is not None:
                component.stop()


@dataclass
class Invocation:
    name: str
    trigger: str
    at: datetime
    duration_ms: float
    status: str


class DevHost:
    """A Flask app serving main.py's HTTP functions, plus the scheduler thread."""

    def __init__(
        self, functions: dict[str, Any], stack: LocalStack | None, clock: Clock | None = None
    ) -> None:
        self.functions = functions
        self.stack = stack
        self.clock = clock or SystemClock()
        self.http_functions = sorted(
            name
            for name, fn in functions.items()
            if fn.__firebase_endpoint__.httpsTrigger is not None
        )
        self.jobs: list[ScheduledJob] = scheduled_jobs(functions, self.run_scheduled)
        self.scheduler = Scheduler(self.jobs, self.clock)
        self.history: list[Invocation] = []
        # Functions declared with max_instances=1 never run twice at once, as deployed.
        self._single = {
            name: threading.Lock()
            for name, fn in functions.items()
            if getattr(fn.__firebase_endpoint__, "maxInstances", None) == 1
        }
        self._stop = threading.Event()
        self.app = self._build_app()

    # Invoking functions --------------------------------------------------------------------

    def run_scheduled(self, name: str, slot: datetime) -> None:
        """Run scheduled function ``name`` for ``slot``; raise what it raises."""
        from firebase_functions.scheduler_fn import ScheduledEvent

        function = self.functions[name]
        single = self._single.get(name)
        if single is not None:
            with single:
                self._invoke_scheduled(name, function, slot, ScheduledEvent)
        else:
            self._invoke_scheduled(name, function, slot, ScheduledEvent)

    def _invoke_scheduled(self, name: str, function: Any, slot: datetime, event: Any) -> None:
        began = time.perf_counter()
        status = "ok"
        try:
            # __wrapped__ is the raw handler: errors propagate instead of becoming a 500.
            function.__wrapped__(event(job_name=f"local-{name}", schedule_time=slot))
        except Exception as error:
            status = f"error: {type(error).__name__}: {error}"
            raise
        finally:
            self._remember(name, "schedule", slot, began, status)

    def _remember(self, name: str, trigger: str, at: datetime, began: float, status: str) -> None:
        duration_ms = (time.perf_counter() - began) * 1000
        self.history.append(Invocation(name, trigger, at, duration_ms, status))
        del self.history[:-200]
        logger.info("%s %s %s %.0f ms", trigger, name, status, duration_ms)

    def run_scheduler(self) -> None:
        """Fire due jobs until ``stop()``, each in its own thread so a slow one does not hold
        back the others; a failing job is logged and the loop goes on."""

        def fire(job: ScheduledJob, slot: datetime) -> None:
            try:
                job.run(slot)
            except Exception:
                logger.exception("scheduled function %s failed", job.name)

        while not self._stop.is_set():
            for job, slot in self.scheduler.due():
                threading.Thread(target=fire, args=(job, slot), name=job.name, daemon=True).start()
            self._stop.wait(min(self.scheduler.seconds_until_next(), 30.0) + 0.05)

    def stop(self) -> None:
        self._stop.set()

    # HTTP ----------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("firewatch-dev")
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]

        def call_http(name: str, subpath: str = "") -> Response:
            began = time.perf_counter()
            response: Response = self.functions[name](request)
            self._remember(
                name,
                f"{request.method} /{name}",
                self.clock.now(),
                began,
                str(response.status_code),
            )
            return response

        for name in self.http_functions:
            app.add_url_rule(
                f"/{name}", f"fn_{name}", lambda name=name: call_http(name), methods=methods
            )
            app.add_url_rule(
                f"/{name}/<path:subpath>",
                f"fn_{name}_sub",
                lambda subpath, name=name: call_http(name, subpath),
                methods=methods,
            )

        app.add_url_rule("/", "index", self._index)
        app.add_url_rule("/__/run/<name>", "run", self._run_now, methods=["POST"])
        app.add_url_rule("/__/inbox", "inbox", self._inbox)
        app.add_url_rule("/__/functions", "functions", self._describe)
        return app

    def _run_now(self, name: str) -> Response:
        if name not in {job.name for job in self.jobs}:
            missing: dict[str, Any] = {
                "error": f"no scheduled function named {name!r}",
                "scheduled": [j.name for j in self.jobs],
            }
            return Response(json.dumps(missing), 404, mimetype="application/json")
        began = time.perf_counter()
        body: dict[str, Any]
        try:
            self.run_scheduled(name, self.clock.now())
        except Exception as error:
            body = {"function": name, "ok": False, "error": f"{type(error).__name__}: {error}"}
            return Response(json.dumps(body), 500, mimetype="application/json")
        body = {
            "function": name,
            "ok": True,
            "duration_ms": round((time.perf_counter() - began) * 1000, 1),
        }
        return Response(json.dumps(body), 200, mimetype="application/json")

    def _describe(self) -> Response:
        body = {
            "http": self.http_functions,
            "scheduled": [
                {
                    "name": j.name,
                    "schedule": j.schedule,
                    "timezone": j.timezone,
                    "next_run": j.next_run,
                }
                for j in self.jobs
            ],
        }
        return Response(json.dumps(body, default=str), mimetype="application/json")

    def inbox(self) -> dict[str, list[dict[str, Any]]]:
        if self.stack is None:
            return {"mail": [], "webhooks": []}
        mail = [
            {
                "from": m.mail_from,
                "to": m.rcpt_tos,
                "subject": m.subject,
                "received_at": m.received_at,
                "text": m.text(),
            }
            for m in self.stack.mail.messages
        ]
        hooks = [
            {"path": r.path, "received_at": r.received_at, "body": r.body.decode(errors="replace")}
            for r in self.stack.hooks.requests()
        ]
        return {"mail": mail, "webhooks": hooks}

    def _inbox(self) -> Response:
        box = self.inbox()
        if request.args.get("format") == "json":
            return Response(json.dumps(box, default=str), mimetype="application/json")
        # One list in the order things arrived, so a Slack or SMS message sits beside the
        # mail of the same alert.
        received = [(m["received_at"], "mail", m["subject"], m["text"]) for m in box["mail"]] + [
            (h["received_at"], "webhook", h["path"], h["body"]) for h in box["webhooks"]
        ]
        rows = "".join(
            f"<tr><td>{html.escape(str(at))}</td><td>{kind}</td><td>{html.escape(subject)}</td>"
            f"<td><pre>{html.escape(content[:2000])}</pre></td></tr>"
            for at, kind, subject, content in sorted(received, key=lambda item: item[0])
        )
        page = _PAGE.format(
            title="Inbox",
            body=f"<table><tr><th>received</th><th>kind</th><th>subject / path</th>"
            f"<th>content</th></tr>{rows}</table>"
            if rows
            else "<p>Nothing received yet.</p>",
        )
        return Response(page, mimetype="text/html")

    def _index(self) -> Response:
        http_rows = "".join(f'<li><a href="/{n}">/{n}</a></li>' for n in self.http_functions)
        job_rows = "".join(
            f"<tr><td>{j.name}</td><td><code>{html.escape(j.schedule)}</code> {j.timezone}</td>"
            f"<td>{j.next_run:%Y-%m-%d %H:%M} UTC</td></tr>"
            for j in self.jobs
            if j.next_run
        )
        recent = "".join(
            f"<tr><td>{i.at:%H:%M:%S}</td><td>{html.escape(i.trigger)}</td><td>{i.name}</td>"
            f"<td>{html.escape(i.status)}</td><td>{i.duration_ms:.0f} ms</td></tr>"
            for i in reversed(self.history[-30:])
        )
        body = (
            f"<h2>HTTP functions</h2><ul>{http_rows}</ul>"
            f"<h2>Scheduled functions</h2><table>{job_rows}</table>"
            "<p>Run one now: <code>firewatch run NAME</code>. "
            '<a href="/__/inbox">Inbox</a> of the local mail and webhook catchers.</p>'
            f"<h2>Recent invocations</h2><table>{recent}</table>"
        )
        return Response(_PAGE.format(title="Firewatch dev host", body=body), mimetype="text/html")


_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}}
td,th{{padding:.25rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid #ddd}}
pre{{white-space:pre-wrap;margin:0}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def serve(host: DevHost, port: int) -> None:
    """Serve ``host`` on 127.0.0.1:``port`` until interrupted; the scheduler runs beside it."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, host.app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    environment = host.stack.environment() if host.stack is not None else {}
    path.write_text(json.dumps({"url": url, "pid": os.getpid(), "environment": environment}))
    path.chmod(0o600)  # it holds the local API key
    scheduler = threading.Thread(target=host.run_scheduler, name="scheduler", daemon=True)
    scheduler.start()
    try:
        server.serve_forever()
    finally:
        host.stop()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
