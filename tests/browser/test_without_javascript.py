"""With JavaScript off the pages still work: the planner answers its GET form, and the application form refuses a
field next to it and then applies."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, PageWatch, _shots, log_in


def test_forms_without_javascript(portal, browser, request) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = PageWatch(page, _shots(request), prefix="nojs-")
    try:
        page.goto(portal.url + "/plan/")
        page.get_by_label("Model parameters").fill("-5")
        page.get_by_role("button", name="Estimate").click()
        expect(page.locator("#id_params_error")).to_contain_text("greater than or equal to 1")
        watch.shot("01-plan-refused")
        page.get_by_label("Model parameters").fill("7e10")
        page.get_by_label("Training tokens").fill("2e13")
        page.get_by_label("GPUs").fill("4096")
        page.get_by_role("button", name="Estimate").click()
        expect(page.locator("#plan-estimate")).to_contain_text("8.4 × 10^24 FLOP")
        assert "params=7e10" in page.url  # a plan one can share
        watch.shot("02-plan")

        username = f"nojs{time.time_ns() % 10**9}"
        token = portal.sign_up(username)
        with portal.api(token) as api:
            assert api.post("/organisations", json={"name": "Quiet Lab", "country": "AT", "headcount": 3,
                                                    "turnover_eur": "100000", "balance_sheet_eur": "80000",
                                                    "sector": "energy"}).status_code == 201
        log_in(watch, portal.url, username, PASSWORD)
        page.goto(portal.url + "/applications/new/")
        page.get_by_label("Title").fill("Grid load forecaster")
        page.get_by_label("GPU-hours requested").fill("40")  # 1e8 parameters on 2e10 tokens: about 27 on Leonardo
        page.get_by_label("Model parameters").fill("0")
        page.get_by_label("The work is for civil use only").check()
        page.get_by_role("button", name="Submit application").click()
        expect(page.locator("#id_params_error")).to_contain_text("greater than or equal to 1")
        watch.shot("03-application-refused")
        page.get_by_label("Model parameters").fill("1e8")
        page.get_by_role("button", name="Submit application").click()
        expect(page.locator("h1 .state")).to_have_text("Approved")
        watch.shot("04-approved")
    finally:
        problems = watch.problems
        context.close()
    assert problems == [], problems
