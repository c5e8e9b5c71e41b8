from __future__ import annotations

from datetime import date

import pytest

from aifactory.core.exceptions import InvalidInput
from aifactory.core.funding import load_instruments, pathways
from aifactory.core.objectives import ObjectiveSpec, expected, load_objectives, status


def _by(key, **kw):
    return next(p for p in pathways(**kw) if p.instrument == key)


def test_eic_accelerator_fits_an_sme_at_trl_6_with_reasons_for_each_criterion():
    p = _by("eic-accelerator", sme_category="small", headcount=12, sector="health", trl=6)
    assert p.fits and p.components == ("grant", "investment")
    assert [r.split(":")[0] for r in p.reasons] == ["SME category", "stage", "sector"]


def test_a_small_mid_cap_gets_the_investment_only_and_a_large_company_nothing():
    mid = _by("eic-accelerator", sme_category="large", headcount=300, sector="health", trl=6)
    assert mid.fits and mid.components == ("investment",)
    big = _by("eic-accelerator", sme_category="large", headcount=5000, sector="health", trl=6)
    assert not big.fits


def test_too_early_a_stage_does_not_fit_and_an_unstated_condition_is_said_so():
    assert not _by("eic-accelerator", sme_category="micro", headcount=3, sector="x", trl=1).fits
    investeu = _by("investeu-sme-competitiveness", sme_category="micro", headcount=3, sector="x", trl=1)
    assert investeu.fits and "stage: the sources state no stage" in investeu.unstated
    assert all(i.sources for i in load_instruments())
    with pytest.raises(InvalidInput):
        pathways(sme_category="micro", headcount=3, sector="x", trl=3)


def test_an_organisation_established_outside_is_refused_with_the_reason():
    p = _by("eic-accelerator", sme_category="micro", headcount=3, sector="x", trl=6, established_eligible=False)
    assert not p.fits and p.reasons[0].startswith("establishment")


def test_objectives_path_and_status():
    up = ObjectiveSpec("a", "A", "k", "n", "up", 0, 100, date(2026, 1, 1), date(2027, 1, 1))
    assert expected(up, date(2026, 7, 2)) == pytest.approx(50, abs=0.5)
    assert status(up, 60, date(2026, 7, 2)) == "on track"
    assert status(up, 40, date(2026, 7, 2)) == "behind"
    assert status(up, 100, date(2026, 7, 2)) == "met"
    assert status(up, 90, date(2027, 2, 1)) == "missed"
    assert status(up, None, date(2026, 7, 2)) == "no data"
    down = ObjectiveSpec("b", "B", "k", "d", "down", 30, 7, date(2026, 1, 1), date(2027, 1, 1))
    assert status(down, 10, date(2026, 7, 2)) == "on track" and status(down, 25, date(2026, 7, 2)) == "behind"
    with pytest.raises(InvalidInput):
        ObjectiveSpec("c", "C", "k", "n", "sideways", 0, 1, date(2026, 1, 1), date(2027, 1, 1))
    assert {o.kpi for o in load_objectives()} == {
        "startups_served", "median_days_to_first_job", "gpu_hours_delivered", "open_science_met_share",
        "support_within_sla", "matches_to_collaboration"}
