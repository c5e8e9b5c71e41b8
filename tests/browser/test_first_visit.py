"""The first visit in a real browser: the demo login is lived in, finished jobs included; a long job name keeps a
phone's page narrow; the AI Act screening shows the passage it read; the API docs load without the network."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, log_in


def test_the_demo_login_finds_an_organisation_an_allocation_and_finished_jobs(portal, person_page) -> None:
    watch = person_page("demo")
    page = watch.page
    log_in(watch, portal.url, "demo", "aifactory-demo")
    expect(page.get_by_role("heading", name=re.compile("Demo Robotics GmbH"))).to_be_visible()
    expect(page.locator("#allocations-heading")).to_be_visible()
    deadline = time.monotonic() + 90
    while page.locator("#jobs-table .state-completed").count() < 2:  # the table refreshes itself every 3 s
        assert time.monotonic() < deadline, page.locator("#jobs-table").inner_text()
        page.wait_for_timeout(500)
    expect(page.locator("#jobs-table")).to_contain_text("tiny-regression")
    expect(page.locator("#jobs-table thead")).to_contain_text("GPU-hours")
    assert "None" not in page.locator("main").inner_text()
    watch.shot("01-demo-dashboard")


def test_a_long_job_name_keeps_a_phone_page_narrow(portal, browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(portal.url + "/login/")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill("aifactory-demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/dashboard/$"))
        page.get_by_role("link", name="Submit a job").click()
        long_name = "a" + "b" * 62 + "z"
        page.get_by_label("Name").fill(long_name)
        page.get_by_role("button", name=re.compile("Submit")).click()
        expect(page.get_by_role("heading", name=re.compile(long_name))).to_be_visible()
        for path in (page.url, portal.url + "/dashboard/"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))
                .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone: {wide}"
    finally:
        context.close()


def test_the_screening_shows_the_passage_it_read(portal, person_page) -> None:
    username = f"gate{time.time_ns() % 10**9}"
    portal.sign_up(username)
    watch = person_page("applicant")
    page = watch.page
    log_in(watch, portal.url, username, PASSWORD)
    page.get_by_label("Name:", exact=True).fill("Lyon Vision")
    page.get_by_label("Country").fill("FR")
    page.get_by_label("Headcount").fill("8")
    page.get_by_label("Annual turnover (EUR)").fill("600000")
    page.get_by_label("Balance sheet (EUR)").fill("400000")
    page.get_by_label("Sector").fill("retail")
    page.get_by_role("button", name="Register").click()
    page.get_by_role("link", name="Apply for Playground access").click()
    page.get_by_label("Title").fill("Analyse de l'humeur en magasin")
    passage = "Le système détecte l'état émotionnel des employés pendant leur service."
    page.get_by_label(re.compile("^Description")).fill(passage)
    page.get_by_role("button", name="Submit application").click()
    expect(page.locator(".field.has-error")).to_contain_text("civil uses only")  # next to the box, nothing stored
    page.get_by_label("The work is for civil use only").check()
    page.get_by_role("button", name="Submit application").click()
    expect(page.locator("h1 .state")).to_have_text("Ethics review")
    expect(page.locator(".findings blockquote").first).to_have_text(passage)
    watch.shot("01-ethics-review-with-passage")


def test_the_api_docs_load_from_the_portal_alone(portal, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: (outside.append(route.request.url),
                                                                          route.abort()))
    try:
        page.goto(portal.url + "/api/v1/docs")
        expect(page.locator(".swagger-ui .info .title")).to_be_visible()
        assert outside == []
    finally:
        context.close()
