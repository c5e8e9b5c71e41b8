"""A small client of the portal's API for people: the demo and the command line are built on it."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.detail = detail


class Client:
    def __init__(self, url: str, token: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url + "/api/v1", timeout=timeout_s, transport=transport)
        if token:
            self.use_token(token)

    def use_token(self, token: str) -> None:
        self._http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"message": response.text[:500]}
            raise ApiError(response.status_code, str(body.get("message", "")), body.get("detail"))
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

    def submit(self, **fields: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/jobs", json=fields))

    def job(self, uid: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/jobs/{uid}"))

    def logs(self, uid: str) -> str:
        return str(self.call("GET", f"/jobs/{uid}/logs")["log"])

    def cancel(self, uid: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/jobs/{uid}/cancel"))
