"""The SDK's calls: a read whose connection drops is tried again, a write never is; refusals keep their data."""

from __future__ import annotations

import httpx
import pytest

from aifactory import sdk
from aifactory.agent.client import PortalClient
from aifactory.sdk import Client, PortalCallError


class Flaky(httpx.BaseTransport):
    """Drops the connection `drops` times, as a server closing a kept-alive connection at the same moment does."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.method)
        if self.drops > 0:
            self.drops -= 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if request.url.path.endswith("/refused"):
            return httpx.Response(409, json={"message": "no", "detail": {"field": "x"}})
        return httpx.Response(200, json=[] if request.url.path.endswith("/agent/jobs") else {"uid": "j1"})


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(sdk, "RETRY_PAUSE_S", 0.0)


def test_a_read_is_tried_again_when_the_connection_drops():
    flaky = Flaky(drops=2)
    assert Client("http://portal", "t", transport=flaky).job("j1") == {"uid": "j1"}
    assert flaky.seen == ["GET", "GET", "GET"]


def test_a_read_gives_up_after_three_tries():
    flaky = Flaky(drops=5)
    with pytest.raises(PortalCallError) as caught:
        Client("http://portal", "t", transport=flaky).job("j1")
    assert caught.value.status == 0 and "cannot reach the portal" in caught.value.message
    assert len(flaky.seen) == sdk.ATTEMPTS


def test_a_write_is_never_sent_twice():
    flaky = Flaky(drops=1)
    with pytest.raises(PortalCallError) as caught:
        Client("http://portal", "t", transport=flaky).cancel("j1")
    assert caught.value.status == 0 and flaky.seen == ["POST"]


def test_the_agent_reads_the_same_way():
    flaky = Flaky(drops=1)
    assert PortalClient("http://portal", "t", transport=flaky).jobs() == []
    assert flaky.seen == ["GET", "GET"]


def test_a_refusal_keeps_status_message_and_detail():
    with pytest.raises(PortalCallError) as caught:
        Client("http://portal", "t", transport=Flaky(drops=0)).call("GET", "/refused")
    assert (caught.value.status, caught.value.message, caught.value.detail) == (409, "no", {"field": "x"})
