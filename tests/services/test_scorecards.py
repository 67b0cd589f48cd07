"""The scorecard: hand-computed scores with the seeded version 1, band boundaries, missing values,
the limit rule (lower basis, cap, rounding down, no basis), half-even rounding of the score,
refusals of malformed rules by path, versions, and scoring a stored application from its figures,
trade references and the customer's own payment record (both engines)."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from o2c_desktop.db import Database
from o2c_desktop.errors import ConflictError, O2CError, PermissionDenied, ValidationFailed
from o2c_desktop.models import AuditEntry, CreditApplication, Scorecard
from o2c_desktop.services import calls, credit_applications, scorecards
from o2c_desktop.services.auth import Actor
from o2c_desktop.services.calls import PromiseInput
from o2c_desktop.services.scorecards import (
    ScoreInputs,
    evaluate,
    parse_rules,
    save_scorecard,
    score_application,
    stored_result,
)
from tests.services.credit_support import APPLICANT
from tests.services.test_aging import Ledger

D = Decimal


def default_rules(db: Database, admin: Actor) -> dict[str, Any]:
    """Version 1 as the migration seeded it."""
    return copy.deepcopy(scorecards.active_scorecard(db, admin).rules)


@functools.cache
def _migration_default() -> dict[str, Any]:
    path = Path(__file__).parents[2] / "migrations" / "versions" / "0006_credit.py"
    spec = importlib.util.spec_from_file_location("credit_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DEFAULT_SCORECARD


@pytest.fixture
def seeded() -> dict[str, Any]:
    """The seeded rules without a database (migrations/versions/0006_credit.py), a fresh copy
    for each test to change."""
    return copy.deepcopy(_migration_default())


def points(result: scorecards.ScoreResult) -> dict[str, Decimal]:
    return {f.key: f.points for f in result.factors}


# ---------------------------------------------------------------------------------------------
# Arithmetic, no database
# ---------------------------------------------------------------------------------------------


def test_case_1_a_solid_new_customer(seeded: dict[str, Any]) -> None:
    """Weights 15+15+15+20+15+10+10 = 100.
    years 7 -> band below 10: 80 × 15 / 100 = 12
    current ratio 160,000 / 100,000 = 1.6 -> below 2.0: 80 × 15 / 100 = 12
    debt to equity 400,000 / 500,000 = 0.8 -> below 1.0: 80 × 15 / 100 = 12
    bureau 700 -> below 750: 80 × 20 / 100 = 16
    avg days late unknown (new customer) -> missing 60 × 15 / 100 = 9
    broken promises unknown -> missing 60 × 10 / 100 = 6
    2 good trade references -> below 3: 70 × 10 / 100 = 7
    score 12 + 12 + 12 + 16 + 9 + 6 + 7 = 74.00 -> class B (65 <= 74 < 80).
    limit: net worth 500,000 × 15 % = 75,000; purchases 40,000 × 30/30 × 1.5 = 60,000;
    the lower is 60,000 (under the cap 500,000, a multiple of 1,000)."""
    result = evaluate(
        seeded,
        ScoreInputs(
            years_in_business=D(7),
            current_ratio=D(160000) / D(100000),
            debt_to_equity=D(400000) / D(500000),
            bureau_score=D(700),
            trade_references=D(2),
            net_worth=D(500000),
            expected_monthly_purchases=D(40000),
            terms_days=30,
        ),
    )
    assert result.score == D("74.00")
    assert result.risk_class == "B"
    assert result.recommended_limit == D("60000.00")
    assert [f.weighted for f in result.factors] == [12, 12, 12, 16, 9, 6, 7]
    assert [f.missing for f in result.factors] == [False] * 4 + [True, True, False]
    assert "lower of net worth 500,000.00 × 15 % (class B) = 75,000.00" in result.limit_basis
    assert "40,000.00 × 30/30 days × 1.5 = 60,000.00" in result.limit_basis
    assert result.limit_basis.startswith("EUR 60,000.00: ")


def test_case_2_every_value_on_a_band_boundary(seeded: dict[str, Any]) -> None:
    """A value equal to a band's `below` belongs to the next band (v < below):
    years 10 -> open band 100 (15); current ratio 2.0 -> 100 (15); D/E 0.5 -> 80 (12);
    bureau 750 -> 100 (20); 0 days late -> below 1: 100 (15); 0 broken -> 100 (10);
    3 references -> 100 (10). Score 15+15+12+20+15+10+10 = 97.00 -> A.
    limit: net worth 2,000,000 × 20 % = 400,000; purchases 300,000 × 60/30 × 1.5 = 900,000;
    lower 400,000."""
    result = evaluate(
        seeded,
        ScoreInputs(
            years_in_business=D(10),
            current_ratio=D("2.0"),
            debt_to_equity=D("0.5"),
            bureau_score=D(750),
            avg_days_late=D(0),
            broken_promises=D(0),
            trade_references=D(3),
            net_worth=D(2000000),
            expected_monthly_purchases=D(300000),
            terms_days=60,
        ),
    )
    assert points(result) == {
        "years_in_business": 100,
        "current_ratio": 100,
        "debt_to_equity": 80,
        "bureau_score": 100,
        "avg_days_late": 100,
        "broken_promises": 100,
        "trade_references": 100,
    }
    assert (result.score, result.risk_class) == (D("97.00"), "A")
    assert result.recommended_limit == D("400000.00")


def test_case_3_weak_applicant_missing_figures_and_cap(seeded: dict[str, Any]) -> None:
    """years 1 -> 20 × 15 = 3; current ratio unknown (no liabilities) -> missing 0;
    D/E 3.5 -> 0; bureau unknown -> missing 50 × 20 / 100 = 10; avg days late 40 -> 0;
    broken promises 1 -> below 2: 70 × 10 / 100 = 7; no trade references -> missing 0.
    Score 3 + 0 + 0 + 10 + 0 + 7 + 0 = 20.00 -> E (share 0): net worth 10,000,000 × 0 = 0,
    the lower basis; purchases alone would be 1,000,000 × 30/30 × 1.5 = 1,500,000."""
    result = evaluate(
        seeded,
        ScoreInputs(
            years_in_business=D(1),
            debt_to_equity=D("3.5"),
            avg_days_late=D(40),
            broken_promises=D(1),
            net_worth=D(10000000),
            expected_monthly_purchases=D(1000000),
            terms_days=30,
        ),
    )
    assert (result.score, result.risk_class, result.recommended_limit) == (
        D("20.00"),
        "E",
        D("0.00"),
    )
    assert points(result)["bureau_score"] == 50
    assert points(result)["current_ratio"] == 0


def test_limit_rule_cap_rounding_and_no_basis(seeded: dict[str, Any]) -> None:
    top = ScoreInputs(
        years_in_business=D(20),
        current_ratio=D(3),
        debt_to_equity=D("0.1"),
        bureau_score=D(900),
        avg_days_late=D(0),
        broken_promises=D(0),
        trade_references=D(5),
    )
    rules = parse_rules(seeded)
    # 10,000,000 × 20 % = 2,000,000 -> capped at 500,000.
    capped = evaluate(rules, replace(top, net_worth=D(10000000)))
    assert capped.recommended_limit == D("500000.00")
    assert "capped at 500,000.00" in capped.limit_basis
    # 123,456 × 20 % = 24,691.20 -> rounded down to 24,000 (never up).
    rounded = evaluate(rules, replace(top, net_worth=D(123456)))
    assert rounded.recommended_limit == D("24000.00")
    assert "rounded down to a multiple of 1000" in rounded.limit_basis
    # Net worth negative: not a basis; purchases 10,000 × (30 + 15 EOM)/30 × 1.5 = 22,500 -> 22,000.
    eom = evaluate(
        rules,
        replace(top, net_worth=D(-5000), expected_monthly_purchases=D(10000), terms_days=45),
    )
    assert eom.recommended_limit == D("22000.00")
    assert "net worth" not in eom.limit_basis
    # No basis at all: 0.
    nothing = evaluate(rules, top)
    assert nothing.recommended_limit == D("0.00")
    assert nothing.limit_basis.startswith("No basis")


def test_ratios_without_liabilities_are_the_best_not_missing() -> None:
    """No current liabilities but assets: unbounded (Infinity, the top band); no total
    liabilities with a positive net worth: 0. Nothing to divide: not known."""
    assert scorecards.current_ratio(D(50000), D(0)) == D("Infinity")
    assert scorecards.current_ratio(D(0), D(0)) is None
    assert scorecards.current_ratio(D(160000), D(100000)) == D("1.6")
    assert scorecards.debt_to_equity(D(0), D(100000)) == 0
    assert scorecards.debt_to_equity(D(400000), D(-1)) is None


def test_score_rounds_half_even_once_at_the_end() -> None:
    """Two factors of weight 1: points 24.69 and 0 -> 12.345 -> 12.34 (half-even, not 12.35);
    24.71 and 0 -> 12.355 -> 12.36. Weights 1 and 2: 50/3 + 2 × 25/3 = 33.333… -> 33.33."""

    def card(a: str, b: str, weights: tuple[int, int] = (1, 1)) -> dict[str, Any]:
        def factor(key: str, value: str, weight: int) -> dict[str, Any]:
            return {
                "key": key,
                "label": key,
                "weight": weight,
                "missing_points": value,
                "bands": [{"below": None, "points": value}],
            }

        return {
            "factors": [
                factor("years_in_business", a, weights[0]),
                factor("bureau_score", b, weights[1]),
            ],
            "risk_classes": [{"min_score": "50", "class": "A"}, {"min_score": "0", "class": "E"}],
            "limit_rule": {
                "net_worth_share": {"A": "0.5", "E": "0"},
                "purchases_terms_factor": "1",
                "cap": None,
                "round_down_to": "0.01",
            },
        }

    assert evaluate(card("24.69", "0"), ScoreInputs()).score == D("12.34")
    assert evaluate(card("24.71", "0"), ScoreInputs()).score == D("12.36")
    thirds = evaluate(card("50", "25", (1, 2)), ScoreInputs())
    assert thirds.score == D("33.33")
    assert thirds.factors[0].weighted == D(50) / 3  # kept exact until the sum is rounded


def test_a_dropped_factor_is_left_out_of_the_weights(seeded: dict[str, Any]) -> None:
    """Without the bureau factor the weights add up to 80: years 7 -> 80 × 15 / 80 = 15, the
    other five at missing or zero points: current 0, D/E 0, days late 60 × 15/80 = 11.25,
    promises 60 × 10/80 = 7.5, references 0 -> 15 + 11.25 + 7.5 = 33.75 -> E (below 35)."""
    seeded["factors"] = [f for f in seeded["factors"] if f["key"] != "bureau_score"]
    result = evaluate(seeded, ScoreInputs(years_in_business=D(7)))
    assert result.score == D("33.75")
    assert result.risk_class == "E"
    assert len(result.factors) == 6


def test_stored_result_round_trips_the_detail(seeded: dict[str, Any]) -> None:
    result = evaluate(seeded, ScoreInputs(years_in_business=D(3)), scorecard_id=4, version_no=2)
    again = stored_result(scorecards.detail_json(result))
    assert again == result
    assert stored_result(None) is None
    assert stored_result("{not json") is None


# ---------------------------------------------------------------------------------------------
# Malformed rules
# ---------------------------------------------------------------------------------------------


def _problems(raw: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_rules(raw)
    return {p.field: p.message for p in caught.value.problems}


def test_parse_rules_names_each_problem_by_path(seeded: dict[str, Any]) -> None:
    bad = copy.deepcopy(seeded)
    bad["factors"][2]["bands"][1]["below"] = "0.4"  # not above the band before (0.5)
    bad["factors"][0]["weight"] = 0
    bad["factors"][1]["missing_points"] = "101"
    bad["factors"][3]["bands"][-1]["below"] = "900"  # the last band must be open-ended
    bad["factors"][4]["key"] = "bureau_score"  # used twice
    bad["factors"][5]["bands"][0]["points"] = 1.5  # a float
    bad["risk_classes"][1]["min_score"] = "85"  # not descending
    bad["risk_classes"][-1]["min_score"] = "5"  # the last must start at 0
    bad["limit_rule"]["round_down_to"] = "0"
    del bad["limit_rule"]["net_worth_share"]["C"]
    bad["extra"] = True
    problems = _problems(bad)
    assert set(problems) == {
        "factors[2].bands[1].below",
        "factors[0].weight",
        "factors[1].missing_points",
        "factors[3].bands[4].below",
        "factors[4].key",
        "factors[5].bands[0].points",
        "risk_classes[1].min_score",
        "risk_classes[4].min_score",
        "limit_rule.round_down_to",
        "limit_rule.net_worth_share.C",
        "extra",
    }
    assert "more than the band before" in problems["factors[2].bands[1].below"]
    assert "string" in problems["factors[5].bands[0].points"]


def test_parse_rules_refuses_missing_parts_and_bad_json() -> None:
    assert set(_problems("{oops")) == {"rules"}
    assert set(_problems({})) == {"factors", "risk_classes", "limit_rule"}
    assert set(_problems({"factors": [], "risk_classes": [], "limit_rule": {}})) >= {
        "factors",
        "risk_classes",
        "limit_rule.cap",
    }
    text_with_decimals = json.dumps({"factors": [{"key": "years_in_business"}]})
    assert "factors[0].bands" in _problems(text_with_decimals)


def test_every_rule_number_is_bounded_and_written_plainly(seeded: dict[str, Any]) -> None:
    """Out of bounds, an exponent, NaN or Infinity: refused by path, before any scoring could
    overflow ("1e9999999" as the purchases factor used to be saved and then break scoring)."""
    bad = copy.deepcopy(seeded)
    bad["limit_rule"]["purchases_terms_factor"] = "1e9999999"
    bad["limit_rule"]["cap"] = str(10**14 + 1)
    bad["limit_rule"]["round_down_to"] = "NaN"
    bad["limit_rule"]["net_worth_share"]["A"] = "Infinity"
    bad["factors"][0]["weight"] = 1001
    bad["factors"][1]["weight"] = "0.5"
    bad["factors"][2]["bands"][0]["below"] = "-1000000000001"
    bad["factors"][3]["bands"][0]["below"] = Decimal("4E+2")  # a JSON number 4e2
    bad["factors"][4]["bands"][0]["points"] = "100.01"
    problems = _problems(bad)
    assert problems == {
        "limit_rule.purchases_terms_factor": (
            'must be written without an exponent ("1000000", not "1e6")'
        ),
        "limit_rule.cap": "must be from 0 to 100000000000000",
        "limit_rule.round_down_to": "must be a number, not NaN or Infinity",
        "limit_rule.net_worth_share.A": "must be a number, not NaN or Infinity",
        "factors[0].weight": "must be from 1 to 1000",
        "factors[1].weight": "must be from 1 to 1000",
        "factors[2].bands[0].below": "must be from -1000000000000 to 1000000000000",
        "factors[3].bands[0].below": ('must be written without an exponent ("1000000", not "1e6")'),
        "factors[4].bands[0].points": "must be from 0 to 100",
    }
    # The upper bounds themselves are fine; one beyond them is not.
    edge = copy.deepcopy(seeded)
    edge["limit_rule"].update(
        purchases_terms_factor="100", cap=str(10**14), round_down_to=str(10**14)
    )
    edge["factors"][0]["weight"] = 1000
    edge["factors"][2]["bands"][-2]["below"] = str(10**12)
    parse_rules(edge)
    edge["limit_rule"]["purchases_terms_factor"] = "100.5"
    edge["limit_rule"]["round_down_to"] = str(10**14 + 1)
    assert _problems(edge) == {
        "limit_rule.purchases_terms_factor": "must be from 0 to 100",
        "limit_rule.round_down_to": "must be more than 0 and at most 100000000000000",
    }
    # Exponents in JSON text, as the editor's text would carry them.
    text = json.dumps(seeded).replace(
        '"purchases_terms_factor": "1.5"', '"purchases_terms_factor": 15e-1'
    )
    assert set(_problems(text)) == {"limit_rule.purchases_terms_factor"}


# ---------------------------------------------------------------------------------------------
# Versions (database)
# ---------------------------------------------------------------------------------------------


def test_save_makes_the_next_version_active_and_keeps_the_old(
    db: Database, admin: Actor, manager: Actor
) -> None:
    rules = default_rules(db, admin)
    rules["factors"][0]["weight"] = 25
    with pytest.raises(PermissionDenied):
        save_scorecard(db, manager, rules, "heavier years", 1)
    saved = save_scorecard(db, admin, rules, "heavier years", 1)
    assert (saved.version_no, saved.active, saved.note) == (2, True, "heavier years")
    assert saved.created_by == admin.display_name
    assert saved.rules["factors"][0]["weight"] == 25
    versions = scorecards.list_versions(db, admin)
    assert [(v.version_no, v.active) for v in versions] == [(2, True), (1, False)]
    assert scorecards.active_scorecard(db, manager).version_no == 2
    # Someone saved version 2 since this editor opened version 1: refused, nothing written.
    with pytest.raises(ConflictError) as caught:
        save_scorecard(db, admin, rules, "stale", 1)
    assert "version 1" in str(caught.value)
    with db.read() as session:
        assert session.scalar(select(Scorecard.version_no).order_by(Scorecard.id.desc())) == 2
        audited = session.scalars(
            select(AuditEntry.field).where(AuditEntry.table_name == "scorecards")
        ).all()
    assert set(audited) == {"active", "version_no", "note", "rules"}


def test_save_refuses_bad_rules_without_writing(db: Database, admin: Actor) -> None:
    rules = default_rules(db, admin)
    rules["risk_classes"][0]["class"] = "Z"
    with pytest.raises(ValidationFailed) as caught:
        save_scorecard(db, admin, rules, None, 1)
    assert caught.value.for_field("risk_classes[0].class")
    assert [v.version_no for v in scorecards.list_versions(db, admin)] == [1]
    rules["risk_classes"][0]["class"] = "A"
    rules["limit_rule"]["purchases_terms_factor"] = "1e9999999"
    with pytest.raises(ValidationFailed) as caught:
        save_scorecard(db, admin, rules, None, 1)
    assert caught.value.for_field("limit_rule.purchases_terms_factor")
    assert [v.version_no for v in scorecards.list_versions(db, admin)] == [1]


# ---------------------------------------------------------------------------------------------
# Scoring a stored application
# ---------------------------------------------------------------------------------------------

NEW_CUSTOMER = {**APPLICANT, "requested_terms_code": "NET30"}


def test_score_application_stores_the_result_audited(
    db: Database, admin: Actor, clerk: Actor, collector: Actor
) -> None:
    """The figures of test_case_1 on a stored application with two references rated good and
    satisfactory and one poor: 74.00, B, 60,000."""
    app = credit_applications.create_application(db, clerk, NEW_CUSTOMER)
    for name, rating in (("A", "good"), ("B", "satisfactory"), ("C", "poor")):
        credit_applications.add_reference(
            db, clerk, app.id, {"kind": "trade", "name": name, "rating": rating}
        )
    credit_applications.add_reference(db, clerk, app.id, {"kind": "bank", "name": "Bank"})
    with pytest.raises(PermissionDenied):
        score_application(db, collector, app.id)
    result = score_application(db, clerk, app.id)
    assert (result.score, result.risk_class, result.recommended_limit) == (
        D("74.00"),
        "B",
        D("60000.00"),
    )
    assert (result.version_no, result.scorecard_id) == (1, 1)
    with db.read() as session:
        row = session.get(CreditApplication, app.id)
        assert row is not None
        assert (row.score, row.risk_class, row.recommended_limit, row.scorecard_id) == (
            D("74.00"),
            "B",
            D("60000.00"),
            1,
        )
        assert stored_result(row.score_detail) == result
        fields = set(
            session.scalars(
                select(AuditEntry.field).where(
                    AuditEntry.table_name == "credit_applications",
                    AuditEntry.record_id == str(app.id),
                    AuditEntry.action == "update",
                )
            )
        )
    assert {"score", "risk_class", "recommended_limit", "scorecard_id"} <= fields


def test_end_of_month_terms_add_15_days(db: Database, clerk: Actor) -> None:
    """EOM30: 30 + 15 = 45 days: 40,000 × 45/30 × 1.5 = 90,000 (net worth 75,000 is lower,
    so give none: purchases alone)."""
    values = {**NEW_CUSTOMER, "requested_terms_code": "EOM30", "net_worth": ""}
    app = credit_applications.create_application(db, clerk, values)
    result = score_application(db, clerk, app.id)
    assert result.recommended_limit == D("90000.00")
    assert "× 45/30 days" in result.limit_basis


def test_a_company_without_liabilities_earns_the_top_bands(db: Database, clerk: Actor) -> None:
    """Current assets 50,000, no current or other liabilities, net worth 100,000:
    years 7 -> 80 × 15 / 100 = 12; current ratio unbounded -> top band 100 × 15 / 100 = 15;
    D/E 0 -> below 0.5: 100 × 15 / 100 = 15; bureau 700 -> 80 × 20 / 100 = 16; days late and
    promises missing (new customer): 9 + 6; no references: 0.
    Score 12 + 15 + 15 + 16 + 9 + 6 = 73.00 -> B; limit 100,000 × 15 % = 15,000.
    (Were both ratios missing, 0 points each: 58.00 -> C, 10,000.)"""
    values = {
        **NEW_CUSTOMER,
        "current_assets": "50000",
        "current_liabilities": "0",
        "total_liabilities": "0",
        "net_worth": "100000",
        "expected_monthly_purchases": "",
    }
    app = credit_applications.create_application(db, clerk, values)
    result = score_application(db, clerk, app.id)
    by_key = {f.key: f for f in result.factors}
    assert (by_key["current_ratio"].value, by_key["current_ratio"].points) == (D("Infinity"), 100)
    assert (by_key["debt_to_equity"].value, by_key["debt_to_equity"].points) == (D(0), 100)
    assert not by_key["current_ratio"].missing and not by_key["debt_to_equity"].missing
    assert (result.score, result.risk_class, result.recommended_limit) == (
        D("73.00"),
        "B",
        D("15000.00"),
    )
    with db.read() as session:
        row = session.get(CreditApplication, app.id)
        assert row is not None and stored_result(row.score_detail) == result


def test_payment_record_from_our_ledger(db: Database, admin: Actor, clerk: Actor) -> None:
    """Fully paid in the last 12 months: 10 days late and 0 (paid early) -> mean 5.00 -> 80
    points. Not counted: an invoice still partly open, one paid 400 days ago (30 days late).
    One promise broken (nothing paid from the day it was made to its date + 3 days grace), one
    kept by the payment of 25 days ago."""
    today = date.today()

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    with Ledger(db) as led:
        customer = led.customer("K-1")
        late = led.invoice(customer, "1000.00", ago(100), ago(70))
        led.allocate(late, "1000.00", ago(60), payment=led.payment(customer, "1000.00", ago(60)))
        early = led.invoice(customer, "500.00", ago(50), ago(20))
        led.allocate(early, "500.00", ago(25), payment=led.payment(customer, "500.00", ago(25)))
        partly = led.invoice(customer, "800.00", ago(40), ago(10))
        led.allocate(partly, "300.00", ago(5), payment=led.payment(customer, "300.00", ago(5)))
        old = led.invoice(customer, "700.00", ago(460), ago(430))
        led.allocate(old, "700.00", ago(400), payment=led.payment(customer, "700.00", ago(400)))
    for made, promised in ((ago(28), ago(26)), (ago(15), ago(12))):
        calls.log_call(
            db, admin, customer, "promise", on=made, promise=PromiseInput(D("100.00"), promised)
        )
    with db.read() as session:
        assert scorecards.average_days_late(session, customer, today) == D("5.00")
        assert scorecards.broken_promises(session, customer, today) == 1
        # As of 60 days ago: the late one (10) and the old one (30, within 12 months then).
        assert scorecards.average_days_late(session, customer, ago(60)) == D("20.00")
        assert scorecards.broken_promises(session, customer, ago(60)) == 0
    app = credit_applications.create_application(
        db, clerk, {"customer_id": customer, "requested_limit": "20000"}
    )
    result = score_application(db, clerk, app.id)
    by_key = {f.key: f for f in result.factors}
    assert (by_key["avg_days_late"].value, by_key["avg_days_late"].points) == (D("5.00"), 80)
    assert (by_key["broken_promises"].value, by_key["broken_promises"].points) == (D(1), 70)
    assert by_key["trade_references"].missing


def test_a_decided_application_is_not_scored_again(db: Database, clerk: Actor) -> None:
    app = credit_applications.create_application(db, clerk, NEW_CUSTOMER)
    credit_applications.withdraw(db, clerk, app.id, app.version, "applicant changed their mind")
    with pytest.raises(O2CError, match="withdrawn"):
        score_application(db, clerk, app.id)
