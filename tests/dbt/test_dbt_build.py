"""The dbt project builds green (models, data tests and unit tests) on a real Postgres: on an
empty warehouse, and on a small hand-made world whose expected results are worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import run_dbt

pytestmark = pytest.mark.integration

RUN_DATE = dt.date(2026, 6, 1)
SMALL_WORLD = Path(__file__).with_name("small_world.sql")


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_build_on_an_empty_warehouse(clean_warehouse: str) -> None:
    """A fresh install (no raw rows yet) builds and tests green."""
    run_dbt(["build"], clean_warehouse, run_date=RUN_DATE)
    assert _rows(clean_warehouse, "select count(*) from marts.dim_customers") == [(0,)]


def test_build_on_the_small_world(clean_warehouse: str) -> None:
    """Features, eligibility and lift match the numbers worked out in small_world.sql's header."""
    with psycopg.connect(clean_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
    run_dbt(["build"], clean_warehouse, run_date=RUN_DATE)

    assert _rows(clean_warehouse, "select customer_id, cycle_key from marts.eligible_win_back order by 1") == [
        (7, "2026-03-01"),
        (8, "2026-02-01"),
    ]
    assert _rows(
        clean_warehouse, "select expected_interpurchase_days from marts.dim_customers where customer_id = 1"
    ) == [(20.0,)]
    metrics = {
        row[0]: row[1:]
        for row in _rows(
            clean_warehouse,
            """select variant, audience, converted, absolute_lift::float, lift_ci_low::float, lift_ci_high::float
               from marts.metrics_workflow_variants where workflow_id = 'win_back'""",
        )
    }
    assert metrics["holdout"][:2] == (2, 1)
    assert metrics["a"] == (2, 1, 0.0, -0.573419, 0.573419)
    assert metrics["b"] == (1, 0, -0.5, -0.905469, 0.391049)
