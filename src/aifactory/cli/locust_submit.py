"""Locust's users for `aifactory bench submit --tool locust` (run by locust, not imported by the portal).

Each user takes one of the API tokens in AIF_LOCUST_TOKENS (comma-separated) and posts, with no wait between
requests, either job specs to `POST /api/v1/jobs` (AIF_LOCUST_TARGET=jobs) or the control's one-row insert to
`POST /bench/v1/insert` (AIF_LOCUST_TARGET=control). Anything but a 201 is a failure. The uid of every accepted
job is written to AIF_LOCUST_UIDS when locust quits, so that the benchmark can check that each one was stored.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task

TOKENS = [t for t in os.environ.get("AIF_LOCUST_TOKENS", "").split(",") if t]
TARGET = os.environ.get("AIF_LOCUST_TARGET", "jobs")
UIDS_FILE = os.environ.get("AIF_LOCUST_UIDS", "")
JOB = {"spec": {"name": "locust", "resources": {"time_limit": 60}, "commands": ["true"]}}
CONTROL = {"note": "control"}

_tokens = itertools.count()
accepted: list[str] = []


class Submitter(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        token = TOKENS[next(_tokens) % len(TOKENS)]
        self.auth_headers = {"Authorization": f"Bearer {token}"}

    @task
    def submit(self) -> None:
        if TARGET == "control":
            path, body = "/bench/v1/insert", CONTROL
        else:
            path, body = "/api/v1/jobs", JOB
        with self.client.post(path, json=body, headers=self.auth_headers, catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
            elif TARGET != "control":
                accepted.append(response.json()["uid"])


@events.quitting.add_listener
def _write_uids(environment: Any, **_: Any) -> None:
    if UIDS_FILE:
        Path(UIDS_FILE).write_text("\n".join(accepted), encoding="utf-8")
