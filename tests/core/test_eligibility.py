import math
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifactory.core.eligibility import (
    ANNEX3_AREAS,
    ARTICLE5_PRACTICES,
    SME_CEILINGS,
    Enterprise,
    GateDecision,
    Relation,
    SmeCategory,
    evaluate_gate,
    exact,
    is_established_eligible,
    load_countries,
    screen,
    sme_category,
)
from aifactory.core.exceptions import Ineligible, InvalidInput

EU27 = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
TODAY = date(2026, 1, 15)

# --- establishment ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", EU27)
def test_member_states_are_eligible(code):
    assert is_established_eligible(code, TODAY)


def test_exactly_the_27_member_states_today():
    countries = load_countries()
    members = {m.country for m in countries.memberships if m.status == "member" and m.covers(TODAY)}
    assert members == set(EU27)


@pytest.mark.parametrize(
    ("code", "on", "expected"),
    [
        ("HR", date(2013, 6, 30), False),  # joined 1 July 2013
        ("HR", date(2013, 7, 1), True),
        ("PL", date(2004, 4, 30), False),  # joined 1 May 2004
        ("PL", date(2004, 5, 1), True),
        ("GB", date(2019, 6, 1), True),  # member until 31 January 2020
        ("GB", date(2022, 6, 1), False),  # neither member nor associated
        ("GB", date(2024, 1, 1), True),  # associated to Horizon Europe from 1 January 2024
        ("CH", date(2024, 12, 31), False),
        ("CH", date(2025, 1, 1), True),  # associated retroactively from 1 January 2025
        ("NO", date(2021, 1, 1), True),
        ("IS", TODAY, True),
        ("UA", TODAY, True),
        ("TR", TODAY, True),
        ("IL", TODAY, True),
        ("XK", TODAY, True),
        ("CA", date(2023, 12, 31), False),
        ("CA", date(2024, 1, 1), True),  # Pillar II from 1 January 2024
        ("LI", TODAY, True),  # Digital Europe, through the EEA
        ("JP", TODAY, False),  # transitional arrangement only
        ("US", TODAY, False),
        ("CN", TODAY, False),
        ("RU", TODAY, False),
    ],
)
def test_eligibility_by_date(code, on, expected):
    assert is_established_eligible(code, on) is expected


def test_codes_are_case_insensitive_and_eu_aliases_accepted():
    assert is_established_eligible("fr", TODAY)
    assert is_established_eligible("EL", TODAY)  # Greece in the EU's style
    assert is_established_eligible(" uk ", date(2024, 6, 1))  # United Kingdom in the EU's style


@pytest.mark.parametrize("code", ["ZZ", "FRA", "", "F", "E1", None, 33])
def test_unknown_country_code_is_invalid(code):
    with pytest.raises(InvalidInput) as err:
        is_established_eligible(code, TODAY)
    assert err.value.field == "country"


def test_a_datetime_counts_as_its_day():
    assert is_established_eligible("CH", datetime(2025, 1, 1, 0, 30))
    assert not is_established_eligible("CH", datetime(2024, 12, 31, 23, 59))


def test_date_must_be_a_date():
    with pytest.raises(InvalidInput) as err:
        is_established_eligible("FR", "2026-01-01")
    assert err.value.field == "on"


def test_every_record_has_a_source_and_unconfirmed_ones_say_why():
    countries = load_countries()
    for m in countries.memberships:
        assert m.source.strip()
        assert m.confirmed or m.note, m.country
    unconfirmed = {m.country for m in countries.memberships if not m.confirmed}
    assert {"AL", "TN", "FO", "JP", "LI"} <= unconfirmed


# --- SME category -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headcount", "turnover", "balance", "expected"),
    [
        (0, 0, 0, SmeCategory.MICRO),
        (9, 2e6, 5e6, SmeCategory.MICRO),  # turnover within 2 M suffices
        (9, 5e6, 2e6, SmeCategory.MICRO),  # or balance sheet within 2 M
        (9, 3e6, 3e6, SmeCategory.SMALL),  # both above 2 M
        (10, 1e6, 1e6, SmeCategory.SMALL),  # staff not below 10
        (49, 10e6, 20e6, SmeCategory.SMALL),
        (49, 11e6, 11e6, SmeCategory.MEDIUM),
        (50, 1e6, 1e6, SmeCategory.MEDIUM),
        (249, 60e6, 43e6, SmeCategory.MEDIUM),  # balance sheet within 43 M suffices
        (249, 50e6, 60e6, SmeCategory.MEDIUM),  # turnover within 50 M suffices
        (249, 51e6, 44e6, SmeCategory.LARGE),
        (250, 1, 1, SmeCategory.LARGE),
    ],
)
def test_sme_thresholds(headcount, turnover, balance, expected):
    assert sme_category(headcount, turnover, balance) is expected


def test_partner_adds_its_share():
    # own 5 staff, 1 M, 1 M; a 30 % partner with 20 staff, 5 M, 5 M adds 6 staff, 1.5 M, 1.5 M
    # -> 11 staff, 2.5 M, 2.5 M: small
    partner = Enterprise(Relation.PARTNER, headcount=20, turnover_eur=5e6, balance_sheet_eur=5e6, share=0.3)
    assert sme_category(5, 1e6, 1e6) is SmeCategory.MICRO
    assert sme_category(5, 1e6, 1e6, [partner]) is SmeCategory.SMALL


def test_partner_share_keeps_it_under_a_ceiling():
    # a 25 % partner with 16 staff adds 4: 5 + 4 = 9 staff stays micro
    partner = Enterprise(Relation.PARTNER, headcount=16, turnover_eur=0, balance_sheet_eur=0, share=0.25)
    assert sme_category(5, 1e6, 1e6, [partner]) is SmeCategory.MICRO


def test_linked_enterprise_adds_everything():
    # own 5 staff; linked group company with 300 staff -> 305: large
    linked = Enterprise(Relation.LINKED, headcount=300, turnover_eur=1e6, balance_sheet_eur=1e6, share=0.6)
    assert sme_category(5, 1e6, 1e6, [linked]) is SmeCategory.LARGE


def test_linked_turnover_and_balance_both_above():
    # own 40 staff, 6 M, 6 M; linked 5 staff, 6 M, 6 M -> 45 staff, 12 M, 12 M: medium
    linked = Enterprise(Relation.LINKED, headcount=5, turnover_eur=6e6, balance_sheet_eur=6e6)
    assert sme_category(40, 6e6, 6e6, [linked]) is SmeCategory.MEDIUM


@pytest.mark.parametrize(
    ("args", "partners", "field"),
    [
        ((-1, 0, 0), (), "headcount"),
        ((math.nan, 0, 0), (), "headcount"),
        (("12", 0, 0), (), "headcount"),
        ((True, 0, 0), (), "headcount"),
        ((1, -1, 0), (), "turnover_eur"),
        ((1, math.nan, 0), (), "turnover_eur"),
        ((1, 0, -5), (), "balance_sheet_eur"),
        ((1, 0, math.inf), (), "balance_sheet_eur"),
        ((1, 0, 0), (Enterprise(Relation.PARTNER, 1, 0, 0, share=0.2),), "partners[0].share"),
        ((1, 0, 0), (Enterprise(Relation.PARTNER, 1, 0, 0, share=0.6),), "partners[0].share"),
        ((1, 0, 0), (Enterprise(Relation.LINKED, -1, 0, 0),), "partners[0].headcount"),
        ((1, 0, 0), (Enterprise(Relation.LINKED, 1, -1, 0),), "partners[0].turnover_eur"),
        ((1, 0, 0), ("acme",), "partners[0]"),
    ],
)
def test_sme_validation_names_the_field(args, partners, field):
    with pytest.raises(InvalidInput) as err:
        sme_category(*args, partners=partners)
    assert err.value.field == field


ORDER = [SmeCategory.MICRO, SmeCategory.SMALL, SmeCategory.MEDIUM, SmeCategory.LARGE]
money = st.floats(min_value=0, max_value=1e9, allow_nan=False)
enterprises = st.builds(
    Enterprise,
    relation=st.sampled_from(Relation),
    headcount=st.integers(0, 1000),
    turnover_eur=money,
    balance_sheet_eur=money,
    share=st.floats(min_value=0.25, max_value=0.5),
)


@settings(max_examples=200, deadline=None)
@given(
    headcount=st.integers(0, 1000),
    turnover=money,
    balance=money,
    partners=st.lists(enterprises, max_size=3),
    extra=enterprises,
)
def test_a_related_enterprise_never_makes_the_category_smaller(headcount, turnover, balance, partners, extra):
    before = sme_category(headcount, turnover, balance, partners)
    after = sme_category(headcount, turnover, balance, [*partners, extra])
    assert ORDER.index(after) >= ORDER.index(before)


@settings(max_examples=200, deadline=None)
@given(headcount=st.integers(0, 1000), more=st.integers(0, 1000), turnover=money, balance=money)
def test_more_staff_never_makes_the_category_smaller(headcount, more, turnover, balance):
    before = sme_category(headcount, turnover, balance)
    after = sme_category(headcount + more, turnover, balance)
    assert ORDER.index(after) >= ORDER.index(before)


# --- AI Act screening -------------------------------------------------------------------------------------------


def test_article5_and_annex3_keys():
    assert set(ARTICLE5_PRACTICES) == {
        "subliminal_manipulation",
        "exploiting_vulnerabilities",
        "social_scoring",
        "predictive_policing",
        "facial_scraping",
        "emotion_recognition",
        "biometric_categorisation",
        "realtime_remote_biometric_identification",
    }
    assert set(ANNEX3_AREAS) == {
        "biometrics",
        "critical_infrastructure",
        "education",
        "employment",
        "essential_services",
        "law_enforcement",
        "migration",
        "justice_democracy",
    }


def test_screen_finds_practices_areas_and_systemic_risk():
    s = screen(practices=["social_scoring", "social_scoring"], areas={"employment"}, flops=2e25)
    assert s.prohibited == ("social_scoring",)
    assert s.high_risk_areas == ("employment",)
    assert s.systemic_risk
    assert len(s.reasons) == 3
    assert "social scoring" in s.reasons[0] and "Article 5" in s.reasons[0]
    assert "employment" in s.reasons[1] and "Annex III" in s.reasons[1]
    assert "Article 51" in s.reasons[2] and "two weeks" in s.reasons[2]


@pytest.mark.parametrize(("flops", "systemic"), [(None, False), (0, False), (1e25, False), (1.01e25, True)])
def test_systemic_risk_threshold(flops, systemic):
    assert screen(practices=(), areas=(), flops=flops).systemic_risk is systemic


def test_clean_screening_has_no_reasons():
    s = screen(practices=[], areas=[], flops=8.4e22)
    assert (s.prohibited, s.high_risk_areas, s.systemic_risk, s.reasons) == ((), (), False, ())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"practices": ["mind_reading"]}, "practices"),
        ({"practices": "social_scoring"}, "practices"),
        ({"areas": ["weather"]}, "areas"),
        ({"flops": -1.0}, "flops"),
        ({"flops": math.nan}, "flops"),
    ],
)
def test_screen_validation(kwargs, field):
    args = {"practices": (), "areas": (), "flops": None, **kwargs}
    with pytest.raises(InvalidInput) as err:
        screen(**args)
    assert err.value.field == field


# --- gate -------------------------------------------------------------------------------------------------------

CLEAN = screen(practices=(), areas=(), flops=None)


def test_gate_passes_a_civil_project_from_a_member_state():
    assert evaluate_gate(country="FR", on=TODAY, civil_use=True, screening=CLEAN) == GateDecision(
        eligible=True, high_risk=False, systemic_risk=False, reasons=()
    )


def test_gate_refuses_outside_eligible_countries():
    d = evaluate_gate(country="US", on=TODAY, civil_use=True, screening=CLEAN)
    assert not d.eligible
    assert len(d.reasons) == 1
    assert "United States (US)" in d.reasons[0] and "not eligible" in d.reasons[0]


def test_gate_refuses_non_civil_use():
    d = evaluate_gate(country="DE", on=TODAY, civil_use=False, screening=CLEAN)
    assert not d.eligible
    assert d.reasons == ("The project is not for civil use: the AI Factories serve civil uses only.",)


def test_gate_refuses_prohibited_practice():
    d = evaluate_gate(
        country="IT", on=TODAY, civil_use=True, screening=screen(practices=["facial_scraping"], areas=(), flops=None)
    )
    assert not d.eligible
    assert "untargeted scraping of facial images" in d.reasons[0]


def test_gate_marks_high_risk_and_systemic_risk_without_refusing():
    s = screen(practices=(), areas=["education"], flops=5e25)
    d = evaluate_gate(country="NO", on=TODAY, civil_use=True, screening=s)
    assert d.eligible and d.high_risk and d.systemic_risk
    assert len(d.reasons) == 2
    assert "education" in d.reasons[0]
    assert "notify the Commission within two weeks" in d.reasons[1]
    d.check()  # does not raise


def test_gate_gives_every_refusal_then_notices():
    s = screen(practices=["social_scoring"], areas=["employment"], flops=None)
    d = evaluate_gate(country="CN", on=TODAY, civil_use=False, screening=s)
    assert not d.eligible and d.high_risk
    assert len(d.reasons) == 4
    assert "China" in d.reasons[0]
    assert "civil" in d.reasons[1]
    assert "social scoring" in d.reasons[2]
    assert "employment" in d.reasons[3]
    with pytest.raises(Ineligible) as err:
        d.check()
    assert err.value.reasons == d.reasons


def test_gate_uses_the_date():
    assert not evaluate_gate(country="GB", on=date(2023, 6, 1), civil_use=True, screening=CLEAN).eligible
    assert evaluate_gate(country="GB", on=date(2024, 6, 1), civil_use=True, screening=CLEAN).eligible


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"on": "today"}, "on"),
        ({"civil_use": "yes"}, "civil_use"),
        ({"screening": None}, "screening"),
    ],
)
def test_gate_validation(kwargs, field):
    args = {"country": "FR", "on": TODAY, "civil_use": True, "screening": CLEAN, **kwargs}
    with pytest.raises(InvalidInput) as err:
        evaluate_gate(**args)
    assert err.value.field == field


# --- exact arithmetic ------------------------------------------------------------------------------------------------


def test_a_firm_at_exactly_250_staff_with_a_partner_is_large():
    # 5 + 0.35 x 700 is 249.99999999999997 in floats: the firm would be called medium
    partner = Enterprise(Relation.PARTNER, headcount=700, turnover_eur=0, balance_sheet_eur=0, share=0.35)
    assert 5 + 0.35 * 700 < 250
    assert sme_category(5, 60e6, 60e6, [partner]) is SmeCategory.LARGE


@pytest.mark.parametrize(("category", "staff_below", "turnover_max", "balance_max"), SME_CEILINGS)
@pytest.mark.parametrize("share", [0.35, 0.45, 0.3, Decimal("0.35"), Fraction(7, 20)])
def test_every_ceiling_is_met_exactly_through_a_partners_share(category, staff_below, turnover_max, balance_max,
                                                               share):
    exact_share = Fraction(str(share)) if not isinstance(share, Fraction) else share
    own_staff = staff_below - exact_share * 10  # own + share x partner is exactly the staff ceiling
    partner = Enterprise(Relation.PARTNER, headcount=10, turnover_eur=0, balance_sheet_eur=0, share=share)
    at_ceiling = sme_category(own_staff, 0, 0, [partner])
    assert at_ceiling is not category  # staff must be below the ceiling: at it, the next class up
    partner_money = Fraction(1_000_000)
    own_money = turnover_max - exact_share * partner_money  # turnover exactly at its ceiling: still in the class
    money = Enterprise(Relation.PARTNER, headcount=0, turnover_eur=1_000_000, balance_sheet_eur=10**9, share=share)
    assert sme_category(staff_below - 1, own_money, 10**9, [money]) is category
    own_balance = balance_max - exact_share * partner_money
    balance = Enterprise(Relation.PARTNER, headcount=0, turnover_eur=10**9, balance_sheet_eur=1_000_000, share=share)
    assert sme_category(staff_below - 1, 10**9, own_balance, [balance]) is category


@pytest.mark.parametrize(("headcount", "expected"), [
    (9.5, SmeCategory.MICRO), (Decimal("9.99"), SmeCategory.MICRO), (Fraction(19, 2), SmeCategory.MICRO),
    (10, SmeCategory.SMALL), (49.75, SmeCategory.SMALL), (Decimal("249.99"), SmeCategory.MEDIUM),
    (250, SmeCategory.LARGE),
])
def test_the_organisations_own_headcount_may_be_fractional(headcount, expected):
    assert sme_category(headcount, 1e6, 1e6) is expected


def test_floats_are_read_as_the_decimals_they_are_written_as():
    assert exact(0.35, "x") == Fraction(35, 100) and exact(Decimal("0.1"), "x") == Fraction(1, 10)
    with pytest.raises(InvalidInput):
        exact(Decimal("NaN"), "x")


@pytest.mark.parametrize(("given", "canonical"),
                         [("UK", "GB"), ("uk", "GB"), (" el ", "GR"), ("gb", "GB"), ("DE", "DE")])
def test_country_aliases_have_one_canonical_code(given, canonical):
    assert load_countries().code(given) == canonical
