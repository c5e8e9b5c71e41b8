"""The fuzzing tier: schemathesis over the whole OpenAPI document. Runs where AIFACTORY_FUZZ=1 (.ci/run's tier, which
installs schemathesis); skipped elsewhere, so that `make test` stays fast and needs no extra package."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

SENT: Counter[str] = Counter()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("AIFACTORY_FUZZ") == "1":
        return
    skip = pytest.mark.skip(reason="the fuzzing tier runs with AIFACTORY_FUZZ=1 (see .ci/run)")
    for item in items:
        if "tests/fuzz" in str(item.fspath):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SENT:
        return
    total = sum(v for k, v in SENT.items() if k.startswith("status "))
    errors = sum(v for k, v in SENT.items() if k.startswith("status 5"))
    summary = {"requests": total, "server_errors": errors, "operations": SENT["operations"],
               "by_status": {k: v for k, v in sorted(SENT.items()) if k.startswith("status ")}}
    terminalreporter.write_line(f"fuzzing: {json.dumps(summary)}")
    out = os.environ.get("AIFACTORY_ARTIFACTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "fuzz.json").write_text(json.dumps(summary, indent=2))
