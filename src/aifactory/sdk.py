"""A small client of the portal's API for people: the demo and the command line are built on it.

    from aifactory.sdk import Client
    client = Client.from_environment()            # AIFACTORY_URL / AIFACTORY_TOKEN, else `aifactory login`'s file
    job = client.submit_spec(open("job.yaml").read())
    print(job["uid"], job["site"], client.job(job["uid"])["state"])

Every refusal the portal answers is a PortalCallError with its HTTP status, message and detail; a portal that
cannot be reached is a PortalCallError with status 0. Reads (GET) are tried again, up to three times in all, when the
connection drops before an answer (a kept-alive connection the server closed at the same moment, a restart); so are
job submissions, which carry an Idempotency-Key (one per call, or the caller's own): the portal makes at most one job
per key, so a submission whose answer was lost can be sent again, now or later, with the same key. Any other write is
never sent twice.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    """Where `aifactory login` keeps the portal's address and the token: $AIFACTORY_CONFIG, else
    $XDG_CONFIG_HOME/aifactory/config.json (~/.config/aifactory/config.json)."""
    if os.environ.get("AIFACTORY_CONFIG"):
        return Path(os.environ["AIFACTORY_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "aifactory" / "config.json"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The saved address and token; empty when there is no file. A file that is not a JSON object is an error."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return {k: str(v) for k, v in data.items() if k in ("url", "token") and isinstance(v, str)}


def write_config(url: str, token: str, path: Path | None = None) -> Path:
    """Save the address and token, readable by the user only."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"url": url, "token": token}, handle)
    os.replace(tmp, path)
    return path


def read_error(response: httpx.Response) -> tuple[str, Any]:
    """The portal's {message, detail} answer to a refused request; its raw text when the answer is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return str(body["message"]), body.get("detail")
    return response.text[:500], None


class PortalCallError(Exception):
    """A call to the portal's API that did not succeed: the portal's refusal with its HTTP status, message and
    detail, or status 0 when the portal could not be reached."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(f"portal answered {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.detail = detail


#: A kept-alive connection is dropped by this client after this many idle seconds, before a server would (gunicorn
#: closes them after 2 s): the client does not send on a connection that the server is closing.
KEEPALIVE_EXPIRY_S = 1.0
LIMITS = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
ATTEMPTS = 3
RETRY_PAUSE_S = 0.2


def send(http: httpx.Client, method: str, path: str, *, unreachable: str, **kwargs: Any) -> httpx.Response:
    """One call to the portal through `http`: its answer, or PortalCallError (the portal's refusal, or status 0
    with `unreachable` and the cause). An idempotent read, or a request with an Idempotency-Key, whose connection
    failed is tried again."""
    headers = kwargs.get("headers") or {}
    attempts = ATTEMPTS if method.upper() in IDEMPOTENT or "Idempotency-Key" in headers else 1
    for attempt in range(1, attempts + 1):
        try:
            response = http.request(method, path, **kwargs)
            break
        except httpx.TransportError as exc:
            if attempt == attempts:
                raise PortalCallError(0, f"{unreachable}: {exc}") from exc
            time.sleep(RETRY_PAUSE_S * attempt)
        except httpx.HTTPError as exc:
            raise PortalCallError(0, f"{unreachable}: {exc}") from exc
    if response.status_code >= 400:
        message, detail = read_error(response)
        raise PortalCallError(response.status_code, message, detail)
    return response


class Client:
    def __init__(self, url: str, token: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url + "/api/v1", timeout=timeout_s, transport=transport,
                                  limits=LIMITS)
        if token:
            self.use_token(token)

    @classmethod
    def from_environment(cls, url: str | None = None, token: str | None = None, **kwargs: Any) -> Client:
        """A client for the portal named by `url`, $AIFACTORY_URL or the saved config (else the local default),
        with `token`, $AIFACTORY_TOKEN or the saved token."""
        saved = read_config()
        return cls(url or os.environ.get("AIFACTORY_URL") or saved.get("url") or DEFAULT_URL,
                   token or os.environ.get("AIFACTORY_TOKEN") or saved.get("token"), **kwargs)

    @property
    def has_token(self) -> bool:
        return "Authorization" in self._http.headers

    def use_token(self, token: str) -> None:
        self._http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = send(self._http, method, path, unreachable=f"cannot reach the portal at {self.url}", **kwargs)
        return response.json() if response.content else None

    # people
    def signup(self, username: str, email: str, password: str) -> str:
        token = str(self.call("POST", "/auth/signup", json={"username": username, "email": email,
                                                             "password": password})["token"])
        self.use_token(token)
        return token

    def login(self, username: str, password: str) -> str:
        token = str(self.call("POST", "/auth/token", json={"username": username, "password": password})["token"])
        self.use_token(token)
        return token

    def register_organisation(self, **fields: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/organisations", json=fields))

    def pledge(self, organisation: int, pledges: list[str]) -> dict[str, Any]:
        return dict(self.call("POST", f"/organisations/{organisation}/pledges", json={"pledges": pledges}))

    def apply(self, **fields: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/applications", json=fields))

    def allocation(self, allocation: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/allocations/{allocation}"))

    def submit(self, *, idempotency_key: str | None = None, **fields: Any) -> dict[str, Any]:
        """A job as a script for one allocation (allocation, name, script, gpus, time_limit_s, env). Sent with
        `idempotency_key` (default: a new one), so that sending it again cannot make a second job."""
        key = idempotency_key or uuid.uuid4().hex
        return dict(self.call("POST", "/jobs", json=fields, headers={"Idempotency-Key": key}))

    def submit_spec(self, spec: str | dict[str, Any], *, organisation: int | None = None,
                    allocation: int | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        """A job spec (its YAML or JSON text, or the object) for an organisation (default: your only one), or kept
        on one allocation; the broker places it and the answer says where and why. Sent with `idempotency_key`
        (default: a new one): a caller that lost the answer calls again with the same key and gets the same job."""
        body: dict[str, Any] = {"spec": spec}
        if organisation is not None:
            body["organisation"] = organisation
        if allocation is not None:
            body["allocation"] = allocation
        key = idempotency_key or uuid.uuid4().hex
        return dict(self.call("POST", "/jobs", json=body, headers={"Idempotency-Key": key}))

    def jobs(self, *, state: str = "all", organisation: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Your organisations' jobs, newest first; state: all, open, finished, or one state."""
        params: dict[str, Any] = {"state": state, "limit": limit}
        if organisation is not None:
            params["organisation"] = organisation
        return [dict(j) for j in self.call("GET", "/jobs", params=params)]

    def notices(self) -> list[dict[str, Any]]:
        return [dict(n) for n in self.call("GET", "/notices")]

    def job(self, uid: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/jobs/{uid}"))

    def logs(self, uid: str) -> str:
        return str(self.call("GET", f"/jobs/{uid}/logs")["log"])

    def cancel(self, uid: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/jobs/{uid}/cancel"))

    def run_create(self, spec: str | dict[str, Any], *, steps: int, checkpoint_every: int, checkpoint_dir: str,
                   tokens: int | None = None, organisation: int | None = None,
                   allocation: int | None = None) -> dict[str, Any]:
        """A managed run: the spec run as segments until `steps` are done (docs/training.md)."""
        body: dict[str, Any] = {"spec": spec, "steps": steps, "checkpoint_every": checkpoint_every,
                                "checkpoint_dir": checkpoint_dir}
        for key, value in (("tokens", tokens), ("organisation", organisation), ("allocation", allocation)):
            if value is not None:
                body[key] = value
        return dict(self.call("POST", "/runs", json=body))

    def runs(self, *, state: str = "all", limit: int = 100) -> list[dict[str, Any]]:
        return [dict(r) for r in self.call("GET", "/runs", params={"state": state, "limit": limit})]

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/runs/{run_id}"))

    def run_cancel(self, run_id: int) -> dict[str, Any]:
        return dict(self.call("POST", f"/runs/{run_id}/cancel"))
