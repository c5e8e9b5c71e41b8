"""A new user, in a real browser: sign up, register, pledge, apply, be approved, run a job and watch it finish."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect


def test_sign_up_to_finished_job(federation: str, watched_page) -> None:
    page = watched_page.page
    page.goto(federation + "/")
    watched_page.shot("01-home")
    page.get_by_role("link", name="Sign up").first.click()

    page.get_by_label("Username").fill(f"ada{time.time_ns() % 10**9}")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("ul.errorlist").first).to_contain_text("at least 10")
    watched_page.shot("02-signup-refused")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    watched_page.shot("03-dashboard-new")

    page.get_by_label("Name:", exact=True).fill("Nordic Vision Labs")
    page.get_by_label("Country").fill("XX")
    page.get_by_label("Headcount").fill("12")
    page.get_by_label("Annual turnover (EUR)").fill("1500000")
    page.get_by_label("Balance sheet (EUR)").fill("900000")
    page.get_by_label("Sector").fill("health")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("ul.errorlist").first).to_contain_text("unknown country")
    watched_page.shot("04-organisation-refused")
    page.get_by_label("Country").fill("FI")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Small enterprise").first).to_be_visible()

    page.get_by_label("An AI governance strategy").check()
    page.get_by_label("AI literacy for staff").check()
    page.get_by_role("button", name="Record pledges").click()
    expect(page.get_by_text("AI Pact pledges recorded.")).to_be_visible()
    watched_page.shot("05-dashboard-organisation")

    page.get_by_role("link", name="Apply for Playground access").click()
    page.get_by_label("Title").fill("Finnish clinical notes model")
    page.get_by_label("GPU-hours requested").fill("999999")
    page.get_by_label("The work is for civil use only").check()
    page.get_by_role("button", name="Submit application").click()
    expect(page.locator("ul.errorlist").first).to_be_visible()
    watched_page.shot("06-application-refused")
    page.get_by_label("GPU-hours requested").fill("50")  # the run planner needs about 324 on Leonardo
    page.get_by_role("button", name="Submit application").click()
    expect(page.locator("ul.errorlist").first).to_contain_text("the planner estimates 324 GPU-hours")
    page.get_by_label("GPU-hours requested").fill("300")
    page.get_by_role("button", name="Submit application").click()
    expect(page.locator("h1 .state")).to_have_text("Approved")
    watched_page.shot("07-application-approved")

    page.get_by_role("link", name="Submit a job").click()
    for _ in range(50):  # the agent provisions the account within a few passes
        page.get_by_role("button", name="Submit job").click()
        if "/jobs/new/" not in page.url:
            break
        expect(page.locator("ul.errorlist").first).to_contain_text("not provisioned")
        page.wait_for_timeout(300)
    watched_page.shot("08-job-submitted")
    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=30_000)
    expect(page.locator("pre.log")).to_contain_text("done")
    watched_page.shot("09-job-finished")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#jobs-table")).to_contain_text("completed")
    watched_page.shot("10-dashboard-after-job")
