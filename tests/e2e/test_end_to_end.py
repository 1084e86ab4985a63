"""End to end with every real part: embedded (or given) Postgres, dbt, Airflow DAG runs, the real
SendGrid client, the emulator and its signed webhooks, the receiver, and the metric marts.

One module-scoped run of a smaller demo; each test checks one promise against it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from loyalty import operations
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import spec_paths
from loyalty.unsubscribe import ONE_CLICK_BODY, read_token
from loyalty_dev import local_airflow
from loyalty_dev.demo import DemoConfig, Stack, prepare_world, run_campaign, start_stack
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE_SECRET
from loyalty_dev.simulation import GeneratorConfig
from loyalty_dev.simulation.truth import expected_absolute_lift

from ..conftest import empty_app_tables, mkdir
from ._support import emulator_state, one

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CONFIG = DemoConfig(GeneratorConfig(customers=8_000, seed=11, campaign_days=21), run_every_days=7)


@dataclass
class Run:
    url: str
    stack: Stack
    results: list[dict]


@pytest.fixture(scope="module")
def run(warehouse_url: str, session_dir: Path) -> Iterator[Run]:
    empty_app_tables(warehouse_url)
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(mkdir(session_dir / "state-e2e")))
    mp.setenv("LOYALTY_WAREHOUSE_URL", warehouse_url)
    prepare_world(warehouse_url, CONFIG, progress=lambda line: None)
    with ExitStack() as stack:
        running = start_stack(stack, warehouse_url, CONFIG.generator.seed)
        results = run_campaign(running, CONFIG, progress=lambda line: None)
        yield Run(warehouse_url, running, results)
    mp.undo()


def test_every_sent_row_reached_the_provider_exactly_once(run: Run) -> None:
    """Ledger `sent` rows and the emulator's recorded messages are the same set of send ids."""
    with psycopg.connect(run.url) as conn:
        sent = {r[0] for r in conn.execute("select send_id from loyalty.send_ledger where status = 'sent'")}
        statuses = dict(conn.execute("select status, count(*) from loyalty.send_ledger group by status").fetchall())
    messages = emulator_state(run.stack, "messages?channel=email")
    send_ids = [m["send_id"] for m in messages]
    assert len(send_ids) == len(set(send_ids)), "a send id reached the provider twice"
    assert set(send_ids) == sent
    assert set(statuses) <= {"sent", "holdout"}, statuses
    assert statuses["sent"] > 1000


def test_every_marketing_email_carries_a_one_click_unsubscribe(run: Run) -> None:
    """Gmail's and Yahoo's bulk-sender rule, at the provider: every email the DAGs sent has List-Unsubscribe
    (the local receiver's URL for its own send, signed with the stack's secret, and a mailto) and
    List-Unsubscribe-Post: One-Click (RFC 8058), and its body links the same URL. (Posting to such a URL is
    tests/integration/test_webhooks.py's; here it would add an event the next test counts.)"""
    messages = emulator_state(run.stack, "messages?channel=email")
    assert messages
    for message in messages:
        headers = message["headers"]
        url, mailto = (target.strip("<>") for target in headers["List-Unsubscribe"].split(", "))
        assert headers["List-Unsubscribe-Post"] == ONE_CLICK_BODY, message["send_id"]
        assert url.startswith(f"{run.stack.receiver.url}/unsubscribe/v1.") and mailto.startswith("mailto:unsubscribe@")
        assert f"href='{url}'" in message["html"], message["send_id"]
        assert read_token(url.rsplit("/", 1)[1], LOCAL_UNSUBSCRIBE_SECRET) == message["send_id"]


def test_rerunning_a_day_sends_nothing_new(run: Run) -> None:
    """A second real Airflow run of the same workflow and day plans and sends nothing."""
    before = emulator_state(run.stack, "stats")["messages"]
    ledger_before = one(run.url, "select count(*) from loyalty.send_ledger")[0]
    local_airflow.dags_test("win_back", CONFIG.run_days()[-1], run.stack.airflow_env)
    assert emulator_state(run.stack, "stats")["messages"] == before
    assert one(run.url, "select count(*) from loyalty.send_ledger")[0] == ledger_before


def test_every_webhook_event_stored_once(run: Run) -> None:
    """Every event the emulator generated arrived signed and is stored once per event id."""
    stats = run.stack.flush_webhooks()
    stored, distinct, unjoined = one(
        run.url,
        """select count(*), count(distinct event_id),
                  count(*) filter (where send_id not in (select send_id from loyalty.send_ledger))
           from raw.message_events""",
    )
    assert stats["events_generated"] == stored == distinct
    assert stats["webhook_posts_failed"] == 0
    assert unjoined == 0


def test_report_counts_match_the_ledger_and_provider(run: Run) -> None:
    """The metric mart's sent/delivered figures equal the ledger's and the emulator's."""
    messages = emulator_state(run.stack, "messages?channel=email")
    treated = [r for r in run.results if not r["is_holdout"]]
    assert sum(r["sent"] for r in treated) == len(messages)
    assert sum(r["delivered"] for r in treated) == sum(m["delivered"] for m in messages)
    assert sum(r["opened"] for r in treated) == sum(m["opened"] for m in messages)
    holdout = next(r for r in run.results if r["is_holdout"])
    assert holdout["sent"] == 0 and holdout["audience"] > 100


def test_measured_lift_recovers_the_true_effect(run: Run) -> None:
    """Each variant's 95% interval covers the generator's true intent-to-treat lift, and excludes 0."""
    holdout = next(r for r in run.results if r["is_holdout"])
    for row in (r for r in run.results if not r["is_holdout"]):
        truth = expected_absolute_lift(
            row["workflow_id"],
            holdout_rate=holdout["conversion_rate"],
            delivered_share=row["delivered"] / row["audience"],
        )
        assert row["lift_ci_low"] <= truth <= row["lift_ci_high"], (row, truth)
        assert row["lift_ci_low"] > 0, row


def test_metrics_run_date_is_after_every_window(run: Run) -> None:
    """The report is read after every attribution window closed, so no conversion is cut short."""
    last_run = max(CONFIG.run_days())
    assert CONFIG.generator.horizon_end >= last_run + dt.timedelta(days=14)


def test_backfill_of_past_days_sends_nothing_twice(run: Run) -> None:
    """Backfilling earlier campaign days (real Airflow runs, oldest first) adds no row and no message."""
    before = emulator_state(run.stack, "stats")["messages"]
    ledger_before = one(run.url, "select count(*) from loyalty.send_ledger")[0]
    for day in CONFIG.run_days()[:2]:
        local_airflow.dags_test("win_back", day, run.stack.airflow_env)
    assert emulator_state(run.stack, "stats")["messages"] == before
    assert one(run.url, "select count(*) from loyalty.send_ledger")[0] == ledger_before


def test_dry_run_plans_and_renders_but_writes_no_sends(run: Run) -> None:
    """With dry_run the DAG plans a real audience and renders it, yet the ledger and the provider
    see nothing; the run summary records what would have been sent."""
    day = CONFIG.generator.horizon_end
    local_airflow.dags_test("loyalty_warehouse", day, run.stack.airflow_env)
    before = emulator_state(run.stack, "stats")["messages"]
    ledger_before = one(run.url, "select count(*) from loyalty.send_ledger")[0]
    local_airflow.dags_test("win_back", day, run.stack.airflow_env, conf={"dry_run": True})
    assert emulator_state(run.stack, "stats")["messages"] == before
    assert one(run.url, "select count(*) from loyalty.send_ledger")[0] == ledger_before
    assert one(run.url, "select count(*) from loyalty.journey_entries where run_date = %s", [day])[0] == 0
    planned, held_out, dry = one(
        run.url,
        "select planned, held_out, dry_run from loyalty.workflow_runs where workflow_id = 'win_back' and run_date = %s",
        [day],
    )
    assert dry is True
    assert planned > 0 and held_out > 0


@pytest.mark.parametrize("spec_path", spec_paths(WORKFLOWS_DIR), ids=lambda p: p.stem)
def test_every_catalogue_workflow_plans_and_renders(run: Run, spec_path) -> None:
    """Each shipped workflow, dry-run on the demo's data as of the last day, enters customers and
    renders every planned message (a template or SQL error fails here, not in production)."""
    day = CONFIG.generator.horizon_end
    result = operations.plan_run(spec_path, run.url, day, "catalogue-dry-run", dry_run=True)
    assert result["dry_run"] is True
    for step in result["steps"]:
        if step["planned"] and set(step["channels"]) - {"reward"}:
            samples = result["samples"][step["step_id"]]
            assert samples, f"{step['step_id']} planned {step['planned']} messages but rendered none"
            for sample in samples:  # an email has a subject; an SMS only its text (the body)
                assert sample["body"] and "{{" not in sample["body"] + sample["subject"], sample
                assert sample["subject"] or sample["channel"] == "sms", sample
    assert one(run.url, "select count(*) from loyalty.journey_entries where run_date = %s", [day])[0] == 0


def test_every_warehouse_run_checked_raw_data_and_features(run: Run) -> None:
    """The warehouse DAG's Great Expectations tasks ran on every campaign day: the raw suites before
    dbt, the feature drift check after it (from the second run date on: the first has nothing to
    compare), and the data quality mart shows them beside the workflow's audience checks."""
    days = CONFIG.run_days()
    with psycopg.connect(run.url) as conn:
        suites = conn.execute(
            "select run_date, array_agg(distinct suite_name order by suite_name) from raw.quality_results "
            "group by run_date"
        ).fetchall()
        kinds = dict(
            conn.execute(
                "select suite_kind, count(distinct run_date) from marts.data_quality_results group by suite_kind"
            ).fetchall()
        )
    by_day = dict(suites)
    for index, day in enumerate(days):
        assert {"raw_customers", "raw_orders", "raw_order_lines"} <= set(by_day[day]), day
        if index:
            assert "features" in by_day[day], day
    assert kinds["raw"] >= len(days) and kinds["features"] >= len(days) - 1 and kinds["audience"] >= 1
