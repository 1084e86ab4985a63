"""The demo on a retailer's own data (`loyalty-dev demo --mapping`), on the shipped sample of examples/retailer/:
a fresh world, the mapping loaded, then the day after the newest order through real Airflow runs (warehouse,
two workflows, metrics), the real SendGrid client, the emulator and the webhook receiver.

One module-scoped run with a reduced workflow list (the full list is what `make demo-sample` runs); each test
checks one promise against it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from loyalty.loader import LoadReport
from loyalty_dev import local_airflow
from loyalty_dev.demo import Stack, start_stack
from loyalty_dev.demo_own_data import DayResult, export_run_date, prepare_own_world, render_day, run_export_day

from ..conftest import empty_app_tables, mkdir
from ._support import emulator_state, one

# Its own target (`make test-demo-sample`, ~3 minutes): the sample's load and dbt build are in `make test`
# (tests/integration/test_sample_retailer.py); this adds real Airflow runs of the workflows on it.
RUN_IT = os.environ.get("LOYALTY_TEST_DEMO_SAMPLE") == "1"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not RUN_IT, reason="demo on the sample: make test-demo-sample"),
]

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retailer"
EXPECTED = json.loads((SAMPLE / "expected_counts.json").read_text())["entities"]
WORKFLOWS = ("win_back", "vip_appreciation")  # both have an audience on the export day, and compete for it


@dataclass
class Run:
    url: str
    stack: Stack
    load: LoadReport
    day: DayResult


@pytest.fixture(scope="module")
def run(warehouse_url: str, session_dir: Path) -> Iterator[Run]:
    empty_app_tables(warehouse_url)
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(mkdir(session_dir / "state-demo-sample")))
    mp.setenv("LOYALTY_WAREHOUSE_URL", warehouse_url)
    report = prepare_own_world(warehouse_url, SAMPLE / "mapping.yml", progress=lambda line: None)
    with ExitStack() as stack:
        running = start_stack(stack, warehouse_url, seed=42)
        day = run_export_day(running, export_run_date(warehouse_url), WORKFLOWS, progress=lambda line: None)
        yield Run(warehouse_url, running, report, day)
    mp.undo()


def test_the_load_matches_the_samples_expected_counts(run: Run) -> None:
    """Every entity of expected_counts.json read, loaded and quarantined (by reason) what it says, and
    read = loaded + quarantined."""
    by_entity = {summary.entity: summary for summary in run.load.sources}
    for entity, expected in EXPECTED.items():
        summary = by_entity[entity]
        assert (
            summary.rows_read,
            summary.rows_loaded,
            summary.rows_quarantined,
            dict(summary.quarantined_by_reason),
        ) == (
            expected["rows_read"],
            expected["rows_loaded"],
            expected["rows_quarantined"],
            expected["quarantined_by_reason"],
        ), entity
        assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined, entity


def test_run_date_is_the_day_after_the_newest_order(run: Run) -> None:
    """The export is taken the day after its newest order (UTC, as dbt dates orders)."""
    newest = one(run.url, "select max(ordered_at at time zone 'UTC')::date from raw.orders")[0]
    assert (run.day.run_date - newest).days == 1


def test_the_warehouse_built_features_for_every_known_customer(run: Run) -> None:
    """marts.dim_customers holds, for the run date, every loaded customer known on it (signed up or ordered
    by then) that the data contract did not keep out, and the loader's rejections are in the quality mart."""
    known = one(
        run.url,
        """select count(*) from raw.customers as customers
           where ((customers.signup_at at time zone 'UTC')::date <= %(day)s
                  or exists (select from raw.orders as orders where orders.customer_id = customers.customer_id
                             and (orders.ordered_at at time zone 'UTC')::date <= %(day)s))
             and customers.customer_id::text not in (
                 select row_key from marts.data_quality_quarantine
                 where source_table = 'raw.customers' and quarantine_scope = 'row')""",
        {"day": run.day.run_date},
    )[0]
    assert run.day.customers_with_features == known > 0
    assert known <= EXPECTED["customers"]["rows_loaded"]
    loader_rejections = sum(row["rows"] for row in run.day.quarantine if row["quarantine_scope"] == "loader")
    assert loader_rejections == sum(entity["rows_quarantined"] for entity in EXPECTED.values())


def test_each_workflow_entered_an_audience_and_settled_every_row(run: Run) -> None:
    """Every workflow run entered customers, and each of its ledger rows is sent, held out or suppressed;
    the per-workflow figures add up (entered = held out + sent + suppressed for one-step journeys)."""
    with psycopg.connect(run.url) as conn:
        statuses = conn.execute(
            "select workflow_id, array_agg(distinct status) from loyalty.send_ledger group by workflow_id"
        ).fetchall()
    assert {workflow for workflow, _ in statuses} == set(WORKFLOWS)
    for workflow, found in statuses:
        assert set(found) <= {"sent", "holdout", "suppressed"}, (workflow, found)
    for row in run.day.per_workflow:
        assert row["entered"] > 0 and row["sent"] > 0, row
        assert row["other_status"] == 0, row
    by_id = {row["workflow_id"]: row for row in run.day.per_workflow}
    win_back = by_id["win_back"]
    assert win_back["entered"] == win_back["held_out"] + win_back["sent"] + win_back["suppressed"]


def test_every_sent_row_reached_the_provider_exactly_once(run: Run) -> None:
    """Ledger `sent` email rows and the emulator's recorded messages are the same set of send ids."""
    with psycopg.connect(run.url) as conn:
        sent = {
            row[0]
            for row in conn.execute(
                "select send_id from loyalty.send_ledger where status = 'sent' and channel = 'email'"
            )
        }
    send_ids = [message["send_id"] for message in emulator_state(run.stack, "messages?channel=email")]
    assert len(send_ids) == len(set(send_ids)), "a send id reached the provider twice"
    assert set(send_ids) == sent
    assert len(sent) == sum(row["sent"] for row in run.day.per_workflow)


def test_rerunning_a_workflow_for_the_same_day_sends_nothing_new(run: Run) -> None:
    """A second real Airflow run of win_back for the export's day plans and sends nothing."""
    before = emulator_state(run.stack, "stats")["messages"]
    ledger_before = one(run.url, "select count(*) from loyalty.send_ledger")[0]
    local_airflow.dags_test("win_back", run.day.run_date, run.stack.airflow_env)
    assert emulator_state(run.stack, "stats")["messages"] == before
    assert one(run.url, "select count(*) from loyalty.send_ledger")[0] == ledger_before


def test_the_output_skips_intraday_workflows_and_says_why_there_is_no_lift(run: Run) -> None:
    """cart_abandonment (hourly, an as-of-now audience) is named as not run; the lift is said to be
    unmeasured rather than printed as empty columns."""
    assert "as of now" in run.day.skipped["cart_abandonment"]
    text = [part for part in render_day(run.day) if isinstance(part, str)]
    assert any(line.startswith("not run: cart_abandonment") for line in text)
    assert any(line.startswith("Lift: not measured") for line in text)
