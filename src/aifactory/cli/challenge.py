"""`aifactory challenge demo`: a Large AI Grand Challenge round through the API, each step with its duration.

A Large AI Grand Challenge round, headless, through the API only: the calls a call manager, applicants and
reviewers make from their browsers or the CLI.

Steps: call opened, proposals in, reviewers assigned, scores in, winners selected, winners routed, allocations
created (with their provisioning orders), provisioned (by the sites' agents, where one runs).

The round is reproducible from (proposals, reviewers, seed): applicants from eight member states with sectors and
keywords drawn from fixed lists, training plans sized by the planner on Leonardo or MeluXina (both A100), requests
within 0.9 to 1.2 times the plan; reviewers with keywords drawn from the same list; each proposal has a hidden
quality between 2 and 5 and each reviewer marks each criterion at that quality plus noise (sd 0.5), in steps of
0.5. The budgets are 45 % of what the proposals ask of each machine and at most half of them may win, so that
the budgets and the winner limit bind.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from aifactory.cli.demo import DemoFailed, Step, local_federation
from aifactory.core.planner import estimate_for, plan_training
from aifactory.sdk import Client

MACHINES = ("leonardo", "meluxina")
COUNTRIES = ("DE", "FR", "IT", "ES", "NL", "PL", "SE", "FI")
SECTORS = ("health", "agrifood", "energy", "manufacturing", "media", "finance")
KEYWORDS = ("llm", "multilingual", "vision", "speech", "biology", "protein", "robotics", "climate", "code", "math")
RUBRIC = [{"name": "excellence", "weight": 0.5}, {"name": "impact", "weight": 0.3}, {"name": "feasibility",
                                                                                      "weight": 0.2}]
def _password() -> str:
    return secrets.token_urlsafe(16)


def play(
    admin: Client,
    new_client: Callable[[], Client],
    *,
    proposals: int = 10,
    reviewers: int = 5,
    seed: int = 11,
    timeout_s: float = 60.0,
    poll_s: float = 0.2,
) -> tuple[list[Step], dict[str, Any]]:
    """Run the round; `admin` holds a staff token (it grants the call manager's role and nothing else)."""
    rng = np.random.default_rng(seed)
    steps: list[Step] = []
    start = last = time.monotonic()
    tag = secrets.token_hex(3)

    def done(name: str, **detail: Any) -> None:
        nonlocal last
        now = time.monotonic()
        steps.append(Step(step=name, ok=True, seconds=round(now - last, 3), at_s=round(now - start, 3), detail=detail))
        last = now

    def person(prefix: str) -> tuple[str, Client]:
        client = new_client()
        username = f"{prefix}-{tag}"
        client.signup(username, f"{username}@example.org", _password())
        return username, client

    try:
        manager_name, manager = person("manager")
        admin.call("POST", "/roles", json={"username": manager_name, "role": "call_manager"})
        plans = []
        for _ in range(proposals):
            params = float(rng.choice([1e9, 3e9, 7e9]))
            tokens = float(rng.choice([2e10, 5e10, 1e11]))
            gpus = int(rng.choice([16, 32, 64]))
            machine = str(rng.choice(MACHINES))
            planned = estimate_for(plan_training(params, tokens, gpus=gpus), machine).gpu_hours or 1.0
            hours = float(round(planned * rng.uniform(0.9, 1.2)))
            plans.append({"params": params, "tokens": tokens, "gpus": gpus, "machine": machine, "hours": hours})
        budgets = {m: max(1.0, round(0.45 * sum(p["hours"] for p in plans if p["machine"] == m))) for m in MACHINES}
        budgets = {m: max(b, max((p["hours"] for p in plans if p["machine"] == m), default=1.0)) for m, b in
                   budgets.items()}
        now = datetime.now(UTC)
        call = manager.call("POST", "/calls", json={
            "title": f"Large AI Grand Challenge {tag}", "mode": "grand_challenge",
            "description": "Open models trained on EuroHPC machines; winners release their weights or publish.",
            "deadline": (now + timedelta(hours=1)).isoformat(), "decision_by": (now + timedelta(days=14)).date()
            .isoformat(), "months": 12, "winner_limit": max(1, proposals // 2), "threshold": 2.5,
            "objective": "score", "reviewers_per_proposal": 2, "same_country_conflict": True,
            "prize_eur": "1000000", "open_science": True, "criteria": RUBRIC, "budgets": budgets,
        })
        done("call opened", call=call["id"], budgets=call["budgets"], winner_limit=call["winner_limit"],
             threshold=call["threshold"], decision_by=call["decision_by"])

        quality: dict[int, float] = {}
        sent = []
        for i, p in enumerate(plans):
            _, applicant = person(f"founder{i}")
            country = str(rng.choice(COUNTRIES))
            org = applicant.register_organisation(
                name=f"Startup {i} {tag}", country=country, headcount=int(rng.integers(3, 60)),
                turnover_eur=str(int(rng.integers(0, 9_000_000))), balance_sheet_eur=str(int(rng.integers(0, 5e6))),
                sector=str(rng.choice(SECTORS)),
            )
            applicant.pledge(org["id"], ["governance", "ai_literacy"])
            words = sorted({str(w) for w in rng.choice(KEYWORDS, size=2, replace=False)})
            app = applicant.apply(
                organisation=org["id"], title=f"Open model {i}", mode="grand_challenge", call=call["id"],
                machine=p["machine"], params=p["params"], tokens=p["tokens"], gpus=p["gpus"],
                requested_gpu_hours=p["hours"], months=12, civil_use=True, open_science=True, keywords=words,
                summary="A foundation model released with open weights.",
            )
            if app["state"] != "in_review":
                raise RuntimeError(f"proposal {i} is {app['state']}: {'; '.join(app['reasons'])}")
            quality[app["id"]] = float(rng.uniform(2.0, 5.0))
            sent.append(app["id"])
        done("proposals in", proposals=len(sent), gpu_hours_requested=round(sum(p["hours"] for p in plans)))

        pool: dict[int, Client] = {}
        for j in range(reviewers):
            name, reviewer = person(f"reviewer{j}")
            words = sorted({str(w) for w in rng.choice(KEYWORDS, size=3, replace=False)})
            row = manager.call("POST", "/reviewers", json={
                "username": name, "name": f"Reviewer {j}", "affiliation": f"University {j}",
                "country": str(rng.choice(COUNTRIES)), "keywords": words, "max_load": proposals,
            })
            pool[row["id"]] = reviewer
        manager.call("POST", f"/calls/{call['id']}/close", json={"reason": "intake ended for the headless round"})
        made = manager.call("POST", f"/calls/{call['id']}/assign", json={})
        loads: dict[str, int] = {}
        for a in made:
            loads[a["reviewer"]] = loads.get(a["reviewer"], 0) + 1
        done("reviewers assigned", assignments=len(made), largest_load=max(loads.values()),
             mean_match=round(sum(a["match"] for a in made) / len(made), 3))

        scored = 0
        for reviewer in pool.values():
            for item in reviewer.call("GET", "/reviews"):
                q = quality[item["application"]]
                marks = {c["name"]: float(min(5.0, max(0.0, round(2 * (q + rng.normal(0, 0.5))) / 2)))
                         for c in RUBRIC}
                reviewer.call("POST", f"/reviews/{item['assignment']}", json={"marks": marks, "comment": "headless"})
                scored += 1
        done("scores in", reviews=scored)

        run = manager.call("POST", f"/calls/{call['id']}/select")
        ranking = run["ranking"]
        ties = [e["explanation"] for e in ranking["entries"] if e["explanation"]]
        done("winners selected", winners=run["funded"], optimum=_totals(run["optimum"]), greedy=_totals(run["greedy"]),
             difference=round(run["difference"], 6), ties_explained=ties)

        routes = [r for r in manager.call("GET", f"/calls/{call['id']}/routes") if r["current"]]
        done("winners routed", routes=[{"application": r["application"], "machine": r["machine"],
                                        "factory": r["factory"], "why": r["reasons"]} for r in routes])

        accepted = manager.call("POST", f"/calls/{call['id']}/accept", json={"reason": "the jury's decision"})
        allocations = accepted["allocations"]
        done("allocations created", allocations=[{k: a[k] for k in ("id", "application", "machine", "account",
                                                                    "gpu_hours", "starts_on", "ends_on", "orders")}
                                                 for a in allocations])

        deadline = time.monotonic() + timeout_s
        provisioned: dict[str, bool] = {}
        while True:
            provisioned = {a["account"]: bool(manager.allocation(a["id"])["provisioned"]) for a in allocations}
            if all(provisioned.values()) or time.monotonic() > deadline:
                break
            time.sleep(poll_s)
        done("provisioned", accounts=provisioned)
    except Exception as exc:  # noqa: BLE001 - every failure ends the round with its reason
        raise DemoFailed(steps, str(exc)) from exc
    summary = {"call": call["id"], "winners": run["funded"], "optimum": _totals(run["optimum"]),
               "greedy": _totals(run["greedy"]), "allocations": len(allocations)}
    return steps, summary


def _totals(result: dict[str, Any]) -> dict[str, Any]:
    return {"value": round(result["value"], 6), "winners": result["winners"], "use": result["use"],
            "status": result["status"], "proven_optimal": result["proven_optimal"],
            "seconds": round(result["seconds"], 4)}


@contextmanager
def challenge_federation() -> Iterator[tuple[str, str]]:
    """A throw-away portal with local agents in front of Leonardo and MeluXina, and a staff token."""
    from aifactory.agent.client import PortalClient
    from aifactory.agent.local import LocalBackend
    from aifactory.agent.runner import Agent

    with local_federation(machine="leonardo") as url:
        from django.contrib.auth import get_user_model

        from aifactory.portal.federation.services import site_create
        from aifactory.portal.organisations.services import api_token_create

        admin = get_user_model().objects.create_user(
            username=f"admin-{secrets.token_hex(3)}", is_staff=True, password=_password()
        )
        _, site_token = site_create(name="meluxina-local", machine_key="meluxina", backend="local")
        workdir = Path(os.environ["AIFACTORY_DATA_DIR"]) / "site-meluxina"
        stop = threading.Event()
        agent = Agent(PortalClient(url, site_token), LocalBackend(workdir))
        worker = threading.Thread(target=agent.run_forever, kwargs={"interval_s": 0.2, "stop": stop.is_set},
                                  daemon=True)
        worker.start()
        try:
            yield url, api_token_create(user=admin)
        finally:
            stop.set()
            worker.join(timeout=5)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("challenge", help="run a Grand Challenge round end to end")
    inner = p.add_subparsers(dest="challenge_command", required=True)
    demo = inner.add_parser("demo", help="open a call, take proposals, assign reviewers, score, select, allocate")
    demo.add_argument("--url", help="a running portal (default: start a throw-away one with local agents)")
    demo.add_argument("--admin-token", help="a staff token of the running portal (with --url)")
    demo.add_argument("--proposals", type=int, default=10, help="proposals in the round (default 10)")
    demo.add_argument("--reviewers", type=int, default=5, help="reviewers in the pool (default 5)")
    demo.add_argument("--seed", type=int, default=11, help="seed of the round's figures (default 11)")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for provisioning")
    demo.add_argument("--json", action="store_true", help="print the steps as JSON")
    demo.set_defaults(func=run)


def _print(steps: list[Step], summary: dict[str, Any] | None, *, as_json: bool, error: str | None) -> None:
    if as_json:
        body = {"ok": error is None, "error": error, "summary": summary, "steps": [s.to_dict() for s in steps]}
        print(json.dumps(body, indent=2, default=str), flush=True)
        return
    for s in steps:
        print(f"{s.at_s:8.2f} s  (+{s.seconds:6.2f} s)  {s.step}")
    if summary:
        opt, greedy = summary["optimum"], summary["greedy"]
        print(f"optimum: {opt['value']:.4f} with {opt['winners']} winners ({opt['status']}"
              f"{', proven optimal' if opt['proven_optimal'] else ''}, {opt['seconds']:.3f} s)")
        print(f"greedy:  {greedy['value']:.4f} with {greedy['winners']} winners")
        print(f"{summary['allocations']} allocations created with their provisioning orders")
    if error:
        print(f"failed: {error}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.proposals < 1 or args.reviewers < 2:
        print("at least 1 proposal and 2 reviewers", file=sys.stderr)
        return 2
    if args.url and not args.admin_token:
        print("--url needs --admin-token (a staff token: it grants the call manager's role)", file=sys.stderr)
        return 2
    context = nullcontext((args.url, args.admin_token)) if args.url else challenge_federation()
    with context as (url, token):
        clients: list[Client] = []

        def new_client() -> Client:
            client = Client(url)
            clients.append(client)
            return client

        admin = Client(url, token)
        try:
            steps, summary = play(admin, new_client, proposals=args.proposals, reviewers=args.reviewers,
                                  seed=args.seed, timeout_s=args.timeout)
        except DemoFailed as exc:
            _print(exc.steps, None, as_json=args.json, error=str(exc))
            return 1
        finally:
            admin.close()
            for client in clients:
                client.close()
    _print(steps, summary, as_json=args.json, error=None)
    return 0
