"""A real Chromium (Debian's package) driven by Playwright against a live portal with a local agent."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop in this thread

PASSWORD = "a-long-enough-passphrase"
CHROMIUM = os.environ.get("AIFACTORY_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("AIFACTORY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
        pytest.skip("no Chromium here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def request_failure(resource_type: str, failure: str | None) -> bool:
    """Whether a failed request is a fault of the page. A background request (htmx's fetch or XHR) that the page
    itself abandoned, because the person navigated away or a newer live estimate replaced it, ends with
    net::ERR_ABORTED: a cancellation, not a failure. Every other failure counts, and so does an aborted document,
    script or stylesheet."""
    return not (failure == "net::ERR_ABORTED" and resource_type in ("fetch", "xhr"))


class PageWatch:
    """Collects console errors and failed requests; every page must end with none."""

    def __init__(self, page: object, shots: Path, prefix: str = "") -> None:
        self.page = page
        self.problems: list[str] = []
        self.shots = shots
        self.prefix = prefix
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}")
                if request_failure(r.resource_type, r.failure) else None)
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 500 else None)

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{self.prefix}{name}.png"), full_page=True)


def _shots(request: pytest.FixtureRequest) -> Path:
    return Path(os.environ.get("AIFACTORY_SCREENSHOTS", "artifacts/screenshots")) / request.node.name


@pytest.fixture
def watched_page(browser: object, request: pytest.FixtureRequest) -> Iterator[PageWatch]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = PageWatch(page, _shots(request))
    yield watch
    context.close()
    assert watch.problems == [], watch.problems


@pytest.fixture
def person_page(browser: object, request: pytest.FixtureRequest) -> Iterator[Callable[[str], PageWatch]]:
    """A page of its own (its own cookies) for each person of a test; each must end with no problem."""
    opened: list[tuple[object, PageWatch]] = []

    def open_page(who: str) -> PageWatch:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = PageWatch(page, _shots(request), prefix=f"{who}-")
        opened.append((context, watch))
        return watch

    yield open_page
    problems = [p for _, watch in opened for p in watch.problems]
    for context, _ in opened:
        context.close()
    assert problems == [], problems


def log_in(watch: PageWatch, url: str, username: str, password: str) -> None:
    page = watch.page
    page.goto(url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def assert_accessible(watch: PageWatch) -> None:
    """Every visible input has a label, the page has its landmarks, and the skip link leads to the content."""
    page = watch.page
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !e.getAttribute('aria-labelledby'))
        .map(e => e.name || e.id)""")
    assert unlabelled == [], f"inputs without a label on {page.url}: {unlabelled}"
    for landmark in ("banner", "navigation", "main", "contentinfo"):
        assert page.get_by_role(landmark).count() >= 1, f"no {landmark} landmark on {page.url}"
    assert page.locator("a.skip-link[href='#main']").count() == 1


@dataclass(frozen=True)
class Portal:
    url: str
    data_dir: Path

    def manage(self, *args: str) -> str:
        """A Django management command against the running portal's database, as an operator would run it."""
        env = {**os.environ, "AIFACTORY_DATA_DIR": str(self.data_dir),
               "DJANGO_SETTINGS_MODULE": "aifactory.portal.settings"}
        done = subprocess.run([sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=30)

    def sign_up(self, username: str, password: str = PASSWORD) -> str:
        """A person signed up through the API; returns their token."""
        with self.api() as client:
            answer = client.post("/auth/signup", json={"username": username, "email": f"{username}@example.org",
                                                       "password": password})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def federation(portal: Portal) -> str:
    return portal.url


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """What `make run` starts: the portal under gunicorn on a fresh SQLite file, and its local agent."""
    data_dir = tmp_path_factory.mktemp("portal")
    port = _free_port()
    log = (data_dir / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aifactory.cli.main", "run", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "AIFACTORY_AGENT_INTERVAL_S": "0.3"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while b"aifactory is running" not in (data_dir / "run.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("aifactory run did not start:\n" + (data_dir / "run.log").read_text(errors="replace"))
        time.sleep(0.3)
    yield Portal(url=url, data_dir=data_dir)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
