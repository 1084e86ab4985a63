"""The dbt project builds green (models, seeds, snapshots, data tests and unit tests) on a real
Postgres: on an empty warehouse, and on a small hand-made world whose expected results are worked
out by hand; every eligibility model keeps the columns the send ledger and the channel router read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import run_dbt
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import load_spec, spec_paths
from loyalty_dev.simulation import GeneratorConfig, generate

pytestmark = pytest.mark.integration

RUN_DATE = dt.date(2026, 6, 1)
SMALL_WORLD = Path(__file__).with_name("small_world.sql")
# `dbt build` alone runs the default selector (no unit tests: the daily DAG); CI runs everything.
BUILD_ALL = ["build", "--selector", "ci"]
# What the ledger (run_date filter, to_jsonb context) and the channel router read from every audience.
AUDIENCE_COLUMNS = {
    "customer_id": "bigint",
    "run_date": "date",
    "cycle_key": "text",
    "email": "text",
    "phone": "text",
    "first_name": "text",
    "locale": "text",
    "timezone": "text",
    "email_consent": "boolean",
    "sms_consent": "boolean",
    "push_consent": "boolean",
    "push_token": "text",
}
# Every audience a shipped workflow reads: a new workflow's model is checked without editing this file.
ELIGIBILITY_MODELS = sorted({load_spec(path).audience.model for path in spec_paths(WORKFLOWS_DIR)})


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_build_on_an_empty_warehouse(dbt_warehouse: str) -> None:
    """A fresh install (no raw rows yet) builds and tests green."""
    run_dbt(BUILD_ALL, dbt_warehouse, run_date=RUN_DATE)
    assert _rows(dbt_warehouse, "select count(*) from marts.dim_customers where run_date = '2026-06-01'") == [(0,)]


def test_build_on_the_small_world(dbt_warehouse: str) -> None:
    """Features, eligibility and lift match the numbers worked out in small_world.sql's header."""
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
    run_dbt(BUILD_ALL, dbt_warehouse, run_date=RUN_DATE)

    assert _rows(dbt_warehouse, "select customer_id, cycle_key from marts.eligible_win_back order by 1") == [
        (7, "2026-03-01"),
        (8, "2026-02-01"),
    ]
    assert _rows(
        dbt_warehouse,
        "select expected_interpurchase_days from marts.dim_customers where customer_id = 1 and run_date = '2026-06-01'",
    ) == [(20.0,)]
    metrics = {
        row[0]: row[1:]
        for row in _rows(
            dbt_warehouse,
            """select variant, audience, converted, absolute_lift::float, lift_ci_low::float, lift_ci_high::float
               from marts.metrics_workflow_variants where workflow_id = 'win_back'""",
        )
    }
    assert metrics["holdout"][:2] == (2, 1)
    assert metrics["a"] == (2, 1, 0.0, -0.573419, 0.573419)
    assert metrics["b"] == (1, 0, -0.5, -0.905469, 0.391049)


def test_app_event_features_and_nps_on_the_small_world(dbt_warehouse: str) -> None:
    """The app events of small_world.sql reach dim_customers (customer 1's open cart and views; 0 and nulls
    without events) and the NPS marts (customer 2's answer to the feedback request)."""
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
    run_dbt(
        [
            "build",
            "--indirect-selection",
            "cautious",
            "--select",
            "+dim_customers +metrics_feedback_nps +metrics_nps_by_segment",
        ],
        dbt_warehouse,
        run_date=RUN_DATE,
    )

    assert _rows(
        dbt_warehouse,
        """select customer_id, last_viewed_category, product_views_30d, open_cart_items, open_cart_value::float,
                  open_cart_updated_at = '2026-05-31 10:06+00'
           from marts.dim_customers where run_date = '2026-06-01' and customer_id in (1, 7) order by 1""",
    ) == [(1, "food", 2, 2, 16.0, True), (7, None, 0, 0, 0.0, None)]
    assert _rows(
        dbt_warehouse,
        """select surveys_sent, responses, promoters, nps::float from marts.metrics_feedback_nps
           where workflow_id = 'feedback_request' and variant = 'all_variants' and segment = 'all_segments'""",
    ) == [(1, 1, 1, 100.0)]
    assert _rows(
        dbt_warehouse, "select respondents, nps::float from marts.metrics_nps_by_segment where segment = 'all_segments'"
    ) == [(1, 100.0)]


def test_push_tokens_of_the_generated_world(dbt_warehouse: str) -> None:
    """The synthetic retailer's app installs reach dim_customers: every customer with push consent has a
    push_token and may be pushed to; one with the app but no consent may not. An FCM UNREGISTERED for a
    token (loyalty.contactability, channel push, address = the token) turns push off for that token only:
    the dead token of another customer's earlier install leaves their current one contactable."""
    world = GeneratorConfig(customers=400, products=20, seed=5, history_days=60, campaign_days=7)
    run_date = world.campaign_start - dt.timedelta(days=1)
    with psycopg.connect(dbt_warehouse) as conn:
        generate(conn, world)
        (dead_customer, dead_token), (reinstalled, _) = conn.execute(
            "select customer_id, push_token from raw.customers where push_consent order by customer_id limit 2"
        ).fetchall()
        conn.execute(
            """insert into loyalty.contactability
                   (channel, address, customer_id, is_contactable, reason, source_event_id, changed_at)
               values ('push', %s, %s, false, 'fcm_unregistered', 'e-dead', %s),
                      ('push', 'fcm-old-install', %s, false, 'fcm_unregistered', 'e-old', %s)""",
            [dead_token, dead_customer, run_date, reinstalled, run_date],
        )
    run_dbt(
        ["build", "--indirect-selection", "cautious", "--select", "+dim_customers"], dbt_warehouse, run_date=run_date
    )

    customers = _rows(
        dbt_warehouse,
        f"""select customer_id, push_consent, push_token, is_push_contactable from marts.dim_customers
            where run_date = '{run_date}'""",
    )
    consenting = [row for row in customers if row[1]]
    app_only = [row for row in customers if not row[1] and row[2] is not None]
    assert len(consenting) > 50 and len(app_only) > 50
    assert all(token is not None for _, _, token, _ in consenting)
    assert not any(contactable for _, _, _, contactable in app_only)
    assert {customer_id for customer_id, *_, contactable in consenting if not contactable} == {dead_customer}
    assert reinstalled in {customer_id for customer_id, *_ in consenting}


@pytest.mark.parametrize("model", ELIGIBILITY_MODELS)
def test_every_eligibility_model_has_the_audience_columns(dbt_warehouse: str, model: str) -> None:
    """marts.eligible_<workflow> has the columns (and types) the ledger and the channel router read."""
    run_dbt(["build", "--indirect-selection", "cautious", "--select", f"+{model}"], dbt_warehouse, run_date=RUN_DATE)
    columns = dict(
        _rows(
            dbt_warehouse,
            f"""select column_name, data_type from information_schema.columns
                where table_schema = 'marts' and table_name = '{model}'""",
        )
    )
    assert {name: columns.get(name) for name in AUDIENCE_COLUMNS} == AUDIENCE_COLUMNS


def test_rebuilding_a_run_date_replaces_its_rows(dbt_warehouse: str) -> None:
    """dim_customers keeps one row per customer per run date: a rebuild replaces the day, other days stay."""
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
    previous_day = RUN_DATE - dt.timedelta(days=1)
    for run_date in (previous_day, RUN_DATE, RUN_DATE):
        run_dbt(
            ["build", "--indirect-selection", "cautious", "--select", "+customer_segments"],
            dbt_warehouse,
            run_date=run_date,
        )
    assert _rows(
        dbt_warehouse, "select run_date, count(*) from marts.dim_customers group by run_date order by run_date"
    ) == [(previous_day, 7), (RUN_DATE, 7)]
    assert _rows(dbt_warehouse, "select count(distinct run_date) from marts.customer_segments") == [(2,)]


def test_docs_generate(dbt_warehouse: str, private_state_dir: Path) -> None:
    """`dbt docs generate` works: the catalog describes the marts and the exposures are in the manifest."""
    run_dbt(
        ["build", "--indirect-selection", "cautious", "--select", "+customer_segments"],
        dbt_warehouse,
        run_date=RUN_DATE,
    )
    run_dbt(["docs", "generate"], dbt_warehouse, run_date=RUN_DATE)
    target = private_state_dir / "dbt" / "target"
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    assert "model.loyalty.dim_customers" in catalog["nodes"]
    assert "exposure.loyalty.win_back_dag" in manifest["exposures"]
