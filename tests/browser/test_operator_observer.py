"""The site operator and the observer in a real browser. The operator of IT4LIA (Leonardo, where `make run`'s
local agent stands) sees the agent reporting, the queue while a job runs and empty once it has finished (the live
part refreshes by itself), and the allocations on the factory's machines; the observer sees the federation at a
glance as charts and tables and downloads them as CSV. Each is refused the other's page."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, assert_accessible, log_in


def _running_job(portal, username):
    """A founder with a Playground allocation on Leonardo and a job of some seconds on it."""
    token = portal.sign_up(username)
    with portal.api(token) as api:
        org = api.post("/organisations", json={"name": "Cura AI", "country": "PT", "headcount": 30,
                                               "turnover_eur": "3000000", "balance_sheet_eur": "2000000",
                                               "sector": "health"}).json()["id"]
        app = api.post("/applications", json={"organisation": org, "title": "Triage notes", "machine": "leonardo",
                                              "params": 1e8, "tokens": 2e9, "gpus": 2, "requested_gpu_hours": 20,
                                              "months": 1, "civil_use": True})
        assert app.status_code == 201 and app.json()["state"] == "approved", app.text
        allocation = next(a["id"] for a in api.get("/allocations").json() if a["application"] == app.json()["id"])
        for _ in range(100):  # the agent provisions the account within a few passes
            job = api.post("/jobs", json={"allocation": allocation, "name": "triage-train", "gpus": 1,
                                          "time_limit_s": 600, "script": "sleep 12\necho done\n"})
            if job.status_code == 201:
                return job.json()["uid"]
            assert job.status_code == 409, job.text
            time.sleep(0.3)
    raise AssertionError("the allocation was never provisioned")


def test_operator_and_observer(portal, person_page) -> None:
    url = portal.url
    n = time.time_ns() % 10**8
    operator, observer = f"olga{n}", f"otto{n}"
    for person in (operator, observer):
        portal.sign_up(person)
    portal.manage("grant_role", operator, "factory_operator", "--factory", "it4lia")
    portal.manage("grant_role", observer, "observer")
    _running_job(portal, f"cura{n}")

    o = person_page("operator")
    log_in(o, url, operator, PASSWORD)
    page = o.page
    page.get_by_role("link", name="Sites", exact=True).click()
    expect(page.get_by_test_id("site-leonardo-local")).to_contain_text("reporting")
    queue = page.locator("section", has=page.get_by_role("heading", name="Queue"))
    expect(queue).to_contain_text("triage-train")
    expect(page.locator("section", has_text="Allocations on your machines")).to_contain_text("Cura AI")
    o.shot("01-sites-with-a-job")
    assert_accessible(o)
    expect(queue).to_contain_text("No job waiting or running.", timeout=45_000)  # refreshed by itself
    o.shot("02-sites-queue-empty")
    assert page.request.get(url + "/figures/").status == 403

    b = person_page("observer")
    log_in(b, url, observer, PASSWORD)
    page = b.page
    page.get_by_role("link", name="Figures", exact=True).click()
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.get_by_test_id("table-machines")).to_contain_text("leonardo")
    expect(page.get_by_test_id("table-sectors")).to_contain_text("health")
    expect(page.get_by_role("img", name="GPU-hours granted and used per machine")).to_be_visible()
    b.shot("01-figures")
    assert_accessible(b)
    with page.expect_download() as download:
        page.get_by_test_id("table-machines").get_by_role("link", name="CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["machine", "allocations", "gpu_hours_granted", "gpu_hours_used"]
    leonardo = next(r for r in rows if r[0] == "leonardo")
    assert float(leonardo[2]) >= 20 and float(leonardo[3]) > 0
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").last.click()
    assert re.match(r"mode,name,promised", Path(download.value.path()).read_text())
    assert page.request.get(url + "/operator/").status == 403
