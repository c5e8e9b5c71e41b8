"""The agent's side of the portal API. Sites pull; the portal never calls a site.

A refused or failed call raises the SDK's PortalCallError (status 0: the portal could not be reached); reads are tried
again when a connection drops, as the SDK does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from aifactory.agent.base import JobReport
from aifactory.sdk import LIMITS, send


@dataclass(frozen=True)
class Order:
    id: int
    account: str
    gpu_minutes: int


@dataclass(frozen=True)
class RemoteJob:
    uid: str
    name: str
    account: str
    gpus: int
    time_limit_s: int
    script: str
    env: dict[str, str]
    state: str
    cancel_requested: bool
    scheduler_id: str
    nodes: int = 1
    image: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    user: str = ""
    """The submitter's account at this site, at a site that runs jobs under personal accounts."""
    lease_s: int = 0
    """A lease the agent renews at each pass (a managed run's segment); 0: none."""


@dataclass(frozen=True)
class AccountOrder:
    """Open (`open`) a person's site account under a project's account, or close it to new jobs (`close`; with
    `lock`, the person keeps no open account here and the POSIX user is locked)."""

    id: int
    action: str
    username: str
    account: str
    lock: bool


@dataclass(frozen=True)
class Revocation:
    """A job whose copy this site must cancel: it moved to another site, or was cancelled before this site said
    it had it."""

    uid: str
    account: str
    reason: str


WAIT_S = 20.0
"""How long one long-poll of the portal lasts at most (the portal holds one for at most 25 s)."""


class PortalClient:
    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None,
                 timeout_s: float = 30.0) -> None:
        self._base_url, self._token, self._transport = base_url, token, transport
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "aifactory-agent"},
            timeout=timeout_s,
            transport=transport,
            limits=LIMITS,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = send(self._http, method, path, unreachable="portal unreachable", json=json)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def waiter(self) -> PortalClient:
        """A second client to the same portal, for the long-poll (`wait`) and for the gate watcher's reports, so
        that neither waits behind the agent's pass; its timeout is above the longest wait the portal holds."""
        return PortalClient(str(self._base_url), self._token, transport=self._transport, timeout_s=WAIT_S + 15)

    def wait(self, timeout_s: float = 20.0) -> bool:
        """Long-poll: return as soon as the portal has work for this site (True), or after `timeout_s` (False)."""
        body = self._call("GET", f"/agent/wait?timeout_s={min(max(timeout_s, 0.0), WAIT_S):g}")
        return bool(body and body.get("work"))

    def heartbeat(self, *, queue_wait_s: float, backend: str) -> None:
        self._call("POST", "/agent/heartbeat", {"queue_wait_s": queue_wait_s, "backend": backend})

    def orders(self) -> list[Order]:
        return [Order(id=int(o["id"]), account=str(o["account"]), gpu_minutes=int(o["gpu_minutes"]))
                for o in self._call("GET", "/agent/orders")]

    def order_done(self, order_id: int, *, ok: bool, message: str = "") -> None:
        self._call("POST", f"/agent/orders/{order_id}", {"ok": ok, "message": message[:2000]})

    def site_accounts(self) -> list[AccountOrder]:
        return [AccountOrder(id=int(a["id"]), action=str(a["action"]), username=str(a["username"]),
                             account=str(a["account"]), lock=bool(a["lock"]))
                for a in self._call("GET", "/agent/site-accounts")]

    def site_account_done(self, order_id: int, *, ok: bool, message: str = "") -> None:
        self._call("POST", f"/agent/site-accounts/{order_id}", {"ok": ok, "message": message[:2000]})

    def ssh_files(self) -> tuple[bytes, bytes]:
        """The federation's user CA line (for sshd's TrustedUserCAKeys) and its key revocation list (RevokedKeys)."""
        ca = send(self._http, "GET", "/ssh/ca.pub", unreachable="portal unreachable").content
        krl = send(self._http, "GET", "/ssh/revoked.krl", unreachable="portal unreachable").content
        return ca, krl

    def jobs(self) -> list[RemoteJob]:
        return [
            RemoteJob(
                uid=str(j["uid"]), name=str(j["name"]), account=str(j["account"]), gpus=int(j["gpus"]),
                time_limit_s=int(j["time_limit_s"]), script=str(j["script"]),
                env={str(k): str(v) for k, v in dict(j["env"]).items()}, state=str(j["state"]),
                cancel_requested=bool(j["cancel_requested"]), scheduler_id=str(j["scheduler_id"]),
                nodes=int(j.get("nodes", 1)), image=str(j.get("image", "")),
                inputs=tuple(str(p) for p in j.get("inputs", [])), outputs=tuple(str(p) for p in j.get("outputs", [])),
                user=str(j.get("user", "")), lease_s=int(j.get("lease_s", 0)),
            )
            for j in self._call("GET", "/agent/jobs")
        ]

    def report(self, report: JobReport, *, log_tail: str = "",
               output_files: list[dict[str, object]] | None = None) -> None:
        """Tell the portal what the scheduler says of a job. PortalCallError 410: the job is no longer this site's."""
        body: dict[str, Any] = {
            "state": report.state.value,
            "scheduler_id": report.scheduler_id,
            "exit_code": report.exit_code,
            "gpu_seconds": report.gpu_seconds,
            "started_at": report.started_at.isoformat() if report.started_at else None,
            "ended_at": report.ended_at.isoformat() if report.ended_at else None,
            "log_tail": log_tail,
            "message": report.message[:2000],
        }
        if output_files is not None:
            body["output_files"] = output_files
        self._call("POST", f"/agent/jobs/{report.uid}", body)

    def checkpoints(self, uid: str, markers: list[dict[str, object]]) -> int:
        """Report a run segment's checkpoints (from its markers); the number the portal had not seen. PortalCallError
        410: the job is no longer this site's."""
        body = self._call("POST", f"/agent/jobs/{uid}/checkpoints", {"checkpoints": markers})
        return int(body.get("added", 0)) if isinstance(body, dict) else 0

    def revocations(self) -> list[Revocation]:
        return [Revocation(uid=str(r["uid"]), account=str(r["account"]), reason=str(r["reason"]))
                for r in self._call("GET", "/agent/revocations")]

    def revocation_done(self, uid: str, *, found: JobReport | None, released: bool) -> None:
        self._call("POST", f"/agent/revocations/{uid}", {
            "found": found is not None,
            "state": found.state.value if found is not None else None,
            "scheduler_id": found.scheduler_id if found is not None else "",
            "gpu_seconds": found.gpu_seconds if found is not None else 0.0,
            "released": released,
            "message": found.message[:2000] if found is not None else "",
        })
