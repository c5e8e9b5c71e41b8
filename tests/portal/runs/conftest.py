from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.federation import Federation, make_federation


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def run_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "spec": {"name": "llm", "resources": {"time_limit": "10m"},
                 "commands": ['python train.py --config run.json']},
        "steps": 100, "checkpoint_every": 10, "checkpoint_dir": "/shared/runs/llm",
    }
    body.update(over)
    return body


class SiteAgent:
    """A site's agent, simulated through the real agent API with the site's token."""

    def __init__(self, token: str) -> None:
        self.api = ApiClient(token)

    def report(self, uid: str, state: str, **fields: Any) -> Any:
        return self.api.post(f"/agent/jobs/{uid}", {"state": state, **fields})

    def checkpoints(self, uid: str, *steps: int, when: str = "2026-01-01T00:00:00+00:00") -> Any:
        return self.api.post(f"/agent/jobs/{uid}/checkpoints", {"checkpoints": [
            {"step": s, "tokens": s * 4096, "path": f"/shared/runs/llm/step-{s:08d}.pt", "time": when}
            for s in steps]})
