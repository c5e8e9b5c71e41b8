"""An applicant's pages in a real browser: the organisation's profile (a refused pledge), the planner estimating as
they type (a refusal next to its field, the systemic-risk notice), the application with the estimate beside it, a
job refused then run with its placement reasons and its log, and the allocation's burn-down with its CSV; the
keyboard reaches the content through the skip link; every input is labelled."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, assert_accessible, log_in


def test_applicant_pages(portal, person_page) -> None:
    url = portal.url
    username = f"lin{time.time_ns() % 10**9}"
    portal.sign_up(username)
    watch = person_page("applicant")
    page = watch.page

    page.goto(url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("ul.errorlist").first).to_contain_text("correct username and password")
    watch.shot("01-login-refused")
    log_in(watch, url, username, PASSWORD)

    page.get_by_label("Name:", exact=True).fill("Baltic Speech Lab")
    page.get_by_label("Country").fill("EE")
    page.get_by_label("Headcount").fill("8")
    page.get_by_label("Annual turnover (EUR)").fill("600000")
    page.get_by_label("Balance sheet (EUR)").fill("400000")
    page.get_by_label("Sector").fill("media")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Micro enterprise").first).to_be_visible()
    assert_accessible(watch)

    page.get_by_role("link", name="Profile, eligibility and screening of Baltic Speech Lab").click()
    expect(page.get_by_test_id("eligibility")).to_have_text("eligible")
    expect(page.get_by_text("Estonia is a member state of the European Union")).to_be_visible()
    page.get_by_role("button", name="Record pledges").click()
    expect(page.locator("#id_pledges_error")).to_contain_text("Choose at least one pledge")
    watch.shot("02-profile-pledge-refused")
    assert_accessible(watch)
    page.get_by_label("AI literacy for staff").check()
    page.get_by_role("button", name="Record pledges").click()
    expect(page.get_by_text("AI Pact pledges recorded.")).to_be_visible()
    expect(page.get_by_text("Taken: AI literacy for staff")).to_be_visible()
    watch.shot("03-profile")

    # the keyboard: the first Tab reaches the skip link, which leads to the content
    page.get_by_role("link", name="Planner").click()
    page.wait_for_url(re.compile(r"/plan/$"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    expect(page.locator("a.skip-link")).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    estimate = page.locator("#plan-estimate")
    page.get_by_label("Model parameters").fill("0")
    expect(page.locator("#live-error-params")).to_contain_text("greater than or equal to 1")
    expect(page.get_by_test_id("plan-refused")).to_be_visible()
    watch.shot("04-plan-refused-live")
    page.get_by_label("Model parameters").fill("4e11")
    page.get_by_label("Training tokens").fill("1.5e13")
    expect(page.locator("#live-error-params")).to_be_empty()
    expect(estimate).to_contain_text("3.6 × 10^25 FLOP")
    expect(page.get_by_test_id("systemic-risk")).to_be_visible()
    watch.shot("05-plan-systemic-risk")
    page.get_by_label("Model parameters").fill("1e9")
    page.get_by_label("Training tokens").fill("2e10")
    expect(estimate).to_contain_text("1.2 × 10^20 FLOP")
    expect(page.get_by_test_id("systemic-risk")).to_have_count(0)
    assert_accessible(watch)

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="Apply for Playground access").click()
    page.get_by_label("Title").fill("Estonian speech recogniser")
    page.get_by_label("GPUs").fill("0")
    expect(page.locator("#live-error-gpus")).to_contain_text("greater than or equal to 1")
    page.get_by_label("GPUs").fill("4")
    page.get_by_label("Model parameters").fill("3e8")
    expect(page.locator("#live-error-gpus")).to_be_empty()
    expect(page.locator("#plan-estimate")).to_contain_text("3.6 × 10^19 FLOP")  # 6 x 3e8 x 2e10
    page.get_by_label("GPU-hours requested").fill("40")
    page.get_by_label("The work is for civil use only").check()
    watch.shot("06-application-with-estimate")
    assert_accessible(watch)
    page.get_by_role("button", name="Submit application").click()
    # Playground grants no run that the estimate says cannot finish: told next to the field, nothing stored
    expect(page.locator(".field.has-error")).to_contain_text("the planner estimates 110 GPU-hours")
    page.get_by_label("GPU-hours requested").fill("100")
    page.get_by_role("button", name="Submit application").click()
    expect(page.locator("h1 .state")).to_have_text("Approved")
    expect(page.get_by_text("Promised")).to_be_visible()
    watch.shot("07-application-approved")

    page.get_by_role("link", name="Submit a job").click()
    page.get_by_label("Time limit (seconds)").fill("30")
    page.get_by_role("button", name="Submit job").click()
    expect(page.locator("#id_time_limit_s_error")).to_contain_text("greater than or equal to 60")
    watch.shot("08-job-refused")
    page.get_by_label("Time limit (seconds)").fill("600")
    for _ in range(60):  # the agent provisions the account within a few passes
        page.get_by_role("button", name="Submit job").click()
        if "/jobs/new/" not in page.url:
            break
        expect(page.locator("ul.errorlist").first).to_contain_text("not provisioned")
        page.wait_for_timeout(300)
    expect(page.get_by_test_id("job-state")).to_have_text(re.compile("pending|submitted|running|completed"))
    watch.shot("09-job-live")
    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=30_000)
    expect(page.locator("pre.log")).to_contain_text("done")
    page.locator("details.why summary", has_text="Why").click()
    expect(page.locator("table.reasons tr.chosen")).to_contain_text("leonardo-local")
    watch.shot("10-job-finished-with-reasons")

    page.locator("p.muted a", has_text=re.compile(r"^aif-p\d+$")).click()
    expect(page.locator("h1")).to_contain_text("Allocation aif-p")
    expect(page.locator("svg.chart")).to_have_count(2)
    expect(page.locator("table").first).to_contain_text("train")
    with page.expect_download() as download:
        page.get_by_role("link", name="download as CSV").click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.startswith("charged_at,job_uid,job_name,gpu_seconds,gpu_hours_used,gpu_hours_left")
    assert len(csv_text.splitlines()) == 2
    watch.shot("11-allocation-burn-down")
    assert_accessible(watch)

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#jobs-table")).to_contain_text("completed")
    watch.shot("12-dashboard")
    docs = os.environ.get("AIFACTORY_DOCS_SCREENSHOTS")
    if docs:  # the README's picture of the applicant's page
        Path(docs).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(docs) / "applicant.png"), full_page=True)
