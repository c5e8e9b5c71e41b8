"""`aifactory demo`: the first-run journey through the API, each step with its duration.

The first-run journey, headless: sign up, register, pledge, apply, get provisioned, run a job, be charged.

`journey` drives a portal through its API only (the same calls a person's browser or the CLI makes) and
records each step with its duration. `local_federation` starts a throw-away portal on SQLite and one local
agent in this process, so the journey can run on a machine with nothing set up.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from aifactory.launch.tiny import tiny_training
from aifactory.sdk import Client


@dataclass(frozen=True)
class Step:
    step: str
    ok: bool
    seconds: float
    at_s: float
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DemoFailed(Exception):
    def __init__(self, steps: list[Step], message: str) -> None:
        super().__init__(message)
        self.steps = steps


def _wait(what: str, probe: Callable[[], dict[str, Any] | None], timeout_s: float, poll_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def journey(client: Client, *, machine: str, timeout_s: float = 120.0, poll_s: float = 0.2) -> list[Step]:
    steps: list[Step] = []
    start = last = time.monotonic()

    def done(name: str, **detail: Any) -> None:
        nonlocal last
        now = time.monotonic()
        steps.append(Step(step=name, ok=True, seconds=round(now - last, 3), at_s=round(now - start, 3), detail=detail))
        last = now

    try:
        user = f"demo-{secrets.token_hex(4)}"
        client.signup(user, f"{user}@example.org", secrets.token_urlsafe(16))
        org = client.register_organisation(name="Demo AI Lab", country="DE", headcount=12, turnover_eur="1500000",
                                           balance_sheet_eur="900000", sector="health")
        client.pledge(org["id"], ["governance", "high_risk_map", "ai_literacy"])
        done("registered", organisation=org["id"], sme_category=org["sme_category"])
        app = client.apply(organisation=org["id"], title="Small clinical-notes language model", machine=machine,
                           params=1e8, tokens=2e9, gpus=2, requested_gpu_hours=50, months=3, civil_use=True)
        if app["state"] != "approved":
            raise RuntimeError(f"application was {app['state']}: {'; '.join(app['reasons'])}")
        done("approved", application=app["id"], allocation=app["allocation"], reasons=app["reasons"])
        allocation_id = int(app["allocation"])
        _wait("the site to provision the account",
              lambda: (a if (a := client.allocation(allocation_id))["provisioned"] else None), timeout_s, poll_s)
        done("account provisioned", account=client.allocation(allocation_id)["account"])
        job = client.submit(allocation=allocation_id, name="demo-train", gpus=2, time_limit_s=300,
                            script='echo "training on $AIFACTORY_GPUS GPUs"\nsleep 2\necho "loss 0.42"\n')
        uid = job["uid"]
        _wait("the job to start",
              lambda: (j if (j := client.job(uid))["state"] in ("running", "completed") else None), timeout_s, poll_s)
        done("job running", job=uid, site=job["site"])
        final = _wait("the job to finish",
                      lambda: (j if (j := client.job(uid))["state"] in ("completed", "failed", "cancelled") else None),
                      timeout_s, poll_s)
        if final["state"] != "completed":
            raise RuntimeError(f"job ended {final['state']}: {final['message']}")
        done("job finished", exit_code=final["exit_code"], log=client.logs(uid).strip().splitlines()[-1:])
        used = client.allocation(allocation_id)["gpu_hours_used"]
        if not used > 0:
            raise RuntimeError("no usage was charged to the allocation")
        done("usage charged", gpu_seconds=final["gpu_seconds"], gpu_hours_used=used)
    except Exception as exc:  # noqa: BLE001 - every failure ends the journey with its reason
        raise DemoFailed(steps, str(exc)) from exc
    return steps


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def local_federation(*, machine: str = "leonardo", data_dir: Path | None = None) -> Iterator[str]:
    """A portal on SQLite in a temporary folder, served on a free local port, with one local agent."""
    from aifactory.agent.client import PortalClient
    from aifactory.agent.local import LocalBackend
    from aifactory.agent.runner import Agent
    from aifactory.portal.bootstrap import bootstrap, setup_django

    with tempfile.TemporaryDirectory(prefix="aifactory-demo-") as tmp:
        root = data_dir or Path(tmp)
        os.environ.pop("DATABASE_URL", None)  # throw-away means SQLite in the temporary folder
        setup_django(root)
        boot = bootstrap(data_dir=root, site=f"{machine}-local", machine=machine, backend="local")
        from django.core.wsgi import get_wsgi_application

        server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=_ThreadingServer,
                             handler_class=_QuietHandler)
        url = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop = threading.Event()
        agent = Agent(PortalClient(url, boot.token_file.read_text(encoding="utf-8")), LocalBackend(root / "site"))
        worker = threading.Thread(target=agent.run_forever, kwargs={"interval_s": 0.2, "stop": stop.is_set},
                                  daemon=True)
        worker.start()
        try:
            yield url
        finally:
            stop.set()
            worker.join(timeout=5)
            server.shutdown()
            server.server_close()


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("demo", help="run the journey from sign-up to a charged job")
    p.add_argument("--url", help="a running portal (default: start a throw-away one with a local agent)")
    p.add_argument("--machine", default="leonardo", help="machine to apply for")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each step")
    p.add_argument("--json", action="store_true", help="print the steps as JSON")
    p.set_defaults(func=run)


def _print(steps: list[Step], *, as_json: bool, error: str | None, training: dict[str, Any] | None = None) -> None:
    if as_json:
        body = {"ok": error is None, "error": error, "steps": [s.to_dict() for s in steps], "training": training}
        print(json.dumps(body, indent=2), flush=True)
        return
    for s in steps:
        print(f"{s.at_s:8.2f} s  (+{s.seconds:6.2f} s)  {s.step}")
    if training is not None:
        print(training["message"])
    if error:
        print(f"failed: {error}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    context = nullcontext(args.url) if args.url else local_federation(machine=args.machine)
    with context as url:
        client = Client(url)
        try:
            steps = journey(client, machine=args.machine, timeout_s=args.timeout)
        except DemoFailed as exc:
            _print(exc.steps, as_json=args.json, error=str(exc))
            return 1
        finally:
            client.close()
    _print(steps, as_json=args.json, error=None, training=tiny_training())
    return 0
