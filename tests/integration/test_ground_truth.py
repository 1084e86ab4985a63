"""Measurement against the simulation's ground truth, for every workflow in workflows/.

One module-scoped campaign: a synthetic retailer, every catalogue workflow driven in-process per
simulated day (operations.plan_run → batches → send with the real SendGrid client against the
emulator, whose signed webhooks reach the receiver), the world reacting to delivered messages, dbt
building eligibility as of each day and the metric marts once every attribution window closed.
Then: each workflow's per-entry lift interval covers the generator's true lift; the A/A workflow
(feedback_request, no effect) covers zero and passes the sample-ratio check; and deleting part of
one variant's entries makes the sample-ratio check fire. The campaign is deterministic for its seed
(the emulator's ids follow request order, so requests are made in send-id order and the simulated
customers' decisions are keyed by customer, workflow and day), and coverage is checked family-wise:
one lift interval per workflow plus the A/A workflow's A/B difference, at 95% together.

`LOYALTY_TRUTH_CUSTOMERS` (default 7000: enough for win-back, the largest audience, to tell its effect
from zero; `make test-truth` uses 20000) sets the world's size.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from math import sqrt
from pathlib import Path
from statistics import NormalDist
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from loyalty import operations, report
from loyalty.channels.fcm_push import FcmPush
from loyalty.channels.sendgrid_email import SendGridEmail
from loyalty.channels.twilio_sms import TwilioSms
from loyalty.dbt import run_dbt
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import spec_paths
from loyalty_dev.demo import EMULATOR_API_KEY, DemoConfig, Stack, prepare_world, start_stack, world_moves
from loyalty_dev.local_airflow import LOCAL_FCM_PROJECT, LOCAL_FCM_TOKEN, LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE as UNSUBSCRIBE
from loyalty_dev.simulation import GeneratorConfig
from loyalty_dev.simulation.truth import TRUTH, expected_absolute_lift

from ..conftest import empty_app_tables, mkdir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

CUSTOMERS = int(os.environ.get("LOYALTY_TRUTH_CUSTOMERS", "7000"))
CONFIG = DemoConfig(GeneratorConfig(customers=CUSTOMERS, seed=23, campaign_days=28), run_every_days=3)
AA_WORKFLOW = "feedback_request"
FAMILY_ALPHA = 0.05  # the chance that any interval of the family misses its truth


def family_z(workflows: int) -> float:
    """Bonferroni: each of the family's intervals (one lift per workflow, plus the A/A workflow's A/B
    difference) at 1 − FAMILY_ALPHA / (its size), two-sided."""
    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / (workflows + 1) / 2)


@dataclass
class Campaign:
    url: str
    stack: Stack


def _sender(stack: Stack, channel: str) -> Any:
    """The channel's real client on the emulator (status callbacks and receipts reach the receiver); none for a
    reward. operations.send closes it."""
    host = stack.emulator.url
    if channel == "email":
        return SendGridEmail(EMULATOR_API_KEY, "loyalty@example.com", host=host, unsubscribe=UNSUBSCRIBE)
    if channel == "sms":
        callback = f"{stack.receiver.url}/webhooks/twilio/status"
        return TwilioSms(LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN, "+15005550006", callback, host=host)
    if channel == "push":
        return FcmPush(LOCAL_FCM_PROJECT, LOCAL_FCM_TOKEN, host=host)
    return None


def _run_workflows(url: str, stack: Stack, day: dt.date) -> None:
    # Quiet hours (birthday SMS) are judged at the simulated afternoon, not at the wall clock of the test run.
    afternoon = dt.datetime.combine(day, dt.time(15), tzinfo=dt.UTC)
    for spec_path in spec_paths(WORKFLOWS_DIR):
        operations.plan_run(spec_path, url, day, f"truth-{day}", dry_run=False)
        for channel, batch_ids in operations.batches(spec_path, url, day).items():
            for batch_id in batch_ids:
                operations.send(spec_path, url, batch_id, now=afternoon, **{channel: _sender(stack, channel)})


def _build_metrics(url: str) -> None:
    command = ["build", "--select", "+path:models/marts/metrics", "--exclude", "resource_type:unit_test"]
    run_dbt([*command, "--indirect-selection", "cautious"], url, CONFIG.generator.horizon_end)


@pytest.fixture(scope="module")
def campaign(warehouse_url: str, session_dir: Path) -> Iterator[Campaign]:
    empty_app_tables(warehouse_url)
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(mkdir(session_dir / "state-ground-truth")))
    prepare_world(warehouse_url, CONFIG, progress=lambda line: None)
    with ExitStack() as stack:
        running = start_stack(stack, warehouse_url, CONFIG.generator.seed)
        for day in CONFIG.run_days():
            world_moves(running, CONFIG, day)
            running.set_clock(dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC))
            run_dbt(
                [
                    "build",
                    "--select",
                    "+path:models/marts/workflows",
                    "--exclude",
                    "resource_type:test",
                    "resource_type:unit_test",
                ],
                warehouse_url,
                day,
            )
            _run_workflows(warehouse_url, running, day)
            running.flush_webhooks()
        world_moves(running, CONFIG, CONFIG.generator.horizon_end)
        _build_metrics(warehouse_url)
        yield Campaign(warehouse_url, running)
    mp.undo()


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, z: float) -> tuple[float, float]:
    """Newcombe's (1998, method 10) hybrid score interval of p1 − p2 from two Wilson intervals."""

    def wilson(x: int, n: int) -> tuple[float, float]:
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half

    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    diff = p1 - p2
    return diff - sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), diff + sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _describe(pooled: dict[str, dict]) -> str:
    """The measured table next to the truth, for a failure message."""
    lines = ["workflow: entries/holdout, converted rates, lift [95%], truth, MDE"]
    for workflow_id, row in sorted(pooled.items()):
        truth = expected_absolute_lift(workflow_id, row["holdout_conversion_rate"], row["delivered_share"])
        lines.append(
            f"{workflow_id}: {row['entries']}/{row['holdout_entries']}, {row['conversion_rate']:.4f} vs "
            f"{row['holdout_conversion_rate']:.4f}, {row['absolute_lift']:+.4f} "
            f"[{row['lift_ci_low']:+.4f}, {row['lift_ci_high']:+.4f}], truth {truth:+.4f}, "
            f"MDE {row['minimum_detectable_effect']:.4f}"
        )
    return "\n".join(lines)


def _rows(url: str, query: str, params: list | None = None) -> list[dict]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _pooled(url: str) -> dict[str, dict]:
    rows = _rows(url, "select * from marts.metrics_workflow_incrementality where is_pooled")
    return {row["workflow_id"]: {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in rows}


class TestGroundTruth:
    def test_every_workflow_is_measured_per_entry(self, campaign: Campaign) -> None:
        """Every catalogue workflow entered customers in both arms, and the marts count each entry once."""
        pooled = _pooled(campaign.url)
        assert set(pooled) == set(TRUTH)
        for workflow_id, row in pooled.items():
            assert row["entries"] >= 50 and row["holdout_entries"] >= 5, (workflow_id, row)
        entries = _rows(
            campaign.url,
            "select workflow_id, count(*) as n from loyalty.journey_entries "
            "where not is_global_holdout group by workflow_id",
        )
        for entry in entries:
            row = pooled[entry["workflow_id"]]
            assert row["entries"] + row["holdout_entries"] == entry["n"]

    def test_every_shipped_workflows_email_carries_the_one_click_unsubscribe(self, campaign: Campaign) -> None:
        """Every email any shipped workflow sent over the campaign, as the provider received it: RFC 8058
        List-Unsubscribe (the signed URL of its own send and a mailto) and List-Unsubscribe-Post, and its body
        links that URL. Each workflow with a true effect sent some, so none escapes the check."""
        messages = httpx.get(f"{campaign.stack.emulator.url}/_emulator/messages?channel=email", timeout=120).json()
        by_workflow: dict[str, int] = {}
        for message in messages:
            workflow_id = message["categories"][1]
            link = UNSUBSCRIBE.url(message["send_id"])
            assert message["headers"] == UNSUBSCRIBE.headers(message["send_id"]), (workflow_id, message["headers"])
            assert f"href='{link}'" in message["html"], (workflow_id, message["html"])
            by_workflow[workflow_id] = by_workflow.get(workflow_id, 0) + 1
        assert set(TRUTH) <= set(by_workflow), sorted(set(TRUTH) - set(by_workflow))

    def test_the_catalogue_sends_on_sms_and_push_and_honours_every_opt_out(self, campaign: Campaign) -> None:
        """The SMS- and push-first workflows delivered on those channels (the report's per-channel funnel shows
        it), and no message went to a number or address after it opted out (STOP and its Portuguese forms,
        unsubscribes): a later day's row for it is suppressed, never sent or attempted."""
        with psycopg.connect(campaign.url) as conn:
            channels = {(r["workflow_id"], r["channel"]): r for r in report.fetch_channels(conn)}
        for workflow_id, channel in (("birthday_reward", "sms"), ("points_expiry_reminder", "push")):
            assert channels[(workflow_id, channel)]["delivered"] > 0, sorted(channels)  # the first choice
            assert channels[(workflow_id, "email")]["sent"] > 0, sorted(channels)  # without consent to it: email
        assert channels[("points_expiry_reminder", "sms")]["sent"] > 0, sorted(channels)  # no app, an SMS
        late = _rows(
            campaign.url,
            """select ledger.channel, ledger.recipient, ledger.run_date, ledger.status, opt_out.reason
               from loyalty.send_ledger as ledger
               inner join loyalty.contactability as opt_out
                   on opt_out.channel = ledger.channel
                   and opt_out.address = case when ledger.channel = 'email' then lower(ledger.recipient)
                                              else ledger.recipient end
               where not opt_out.is_contactable
                   and ledger.run_date > (opt_out.changed_at at time zone 'UTC')::date
                   and ledger.status in ('pending', 'sending', 'sent', 'failed', 'unknown')""",
        )
        assert late == []
        opted_out = _rows(
            campaign.url,
            "select count(*) as n from loyalty.contactability where channel = 'sms' and not is_contactable",
        )
        assert opted_out[0]["n"] > 0  # the emulated phones replied STOP: the check above had something to check

    def test_every_lift_interval_covers_the_truth(self, campaign: Campaign) -> None:
        """For each workflow, the pooled per-entry lift interval covers the generator's true intent-to-treat
        lift rate × delivered share × (1 − holdout rate). With one interval per workflow, nine 95% intervals
        would all cover the truth only ~63% of the time by chance, so coverage is checked family-wise:
        Bonferroni, each workflow's Newcombe interval at 1 − 0.05/(size of the family) (recomputed from the
        mart's counts, and checked to match the mart's own 95% interval at z = 1.96). The largest audience
        (win-back) tells its effect from zero (its 95% interval excludes zero), and its minimum detectable
        effect agrees with the precision of that interval."""
        pooled = _pooled(campaign.url)
        z_family = family_z(len(pooled))
        misses = []
        for workflow_id, row in pooled.items():
            counts = (row["converted"], row["entries"], row["holdout_converted"], row["holdout_entries"])
            low95, high95 = newcombe_interval(*counts, z=NormalDist().inv_cdf(0.975))
            assert (low95, high95) == pytest.approx((row["lift_ci_low"], row["lift_ci_high"]), abs=2e-6), workflow_id
            low, high = newcombe_interval(*counts, z=z_family)
            truth = expected_absolute_lift(workflow_id, row["holdout_conversion_rate"], row["delivered_share"])
            if not low <= truth <= high:
                misses.append((workflow_id, truth, low, high))
        table = _describe(pooled)
        assert misses == [], table
        win_back = pooled["win_back"]
        assert win_back["lift_ci_low"] > 0, table
        # The mart's minimum detectable effect (80% power, 5% two-sided, pooled rate) is the interval's own
        # precision scaled by (1.96 + 0.84) / 1.96: what the marts tell stakeholders about noise is consistent.
        standard_error = (win_back["lift_ci_high"] - win_back["lift_ci_low"]) / (2 * 1.959964)
        expected_mde = (1.959964 + 0.841621) * standard_error
        assert win_back["minimum_detectable_effect"] == pytest.approx(expected_mde, rel=0.2), table

    def test_aa_workflow_covers_zero_and_passes_the_ratio_check(self, campaign: Campaign) -> None:
        """feedback_request has no effect: its lift interval and its A/B difference cover zero (at the
        family's level: an uncorrected 95% interval of a no-effect workflow misses zero on 1 seed in 20),
        the mart declares a winner only where its own 95% difference interval excludes zero, and the
        sample-ratio check passes (as it does for every workflow)."""
        pooled = _pooled(campaign.url)
        z_family = family_z(len(pooled))
        row = pooled[AA_WORKFLOW]
        lift = newcombe_interval(
            row["converted"], row["entries"], row["holdout_converted"], row["holdout_entries"], z_family
        )
        assert lift[0] <= 0 <= lift[1], _describe(pooled)
        experiments = _rows(campaign.url, "select * from marts.metrics_workflow_experiments")
        aa = [r for r in experiments if r["workflow_id"] == AA_WORKFLOW]
        control = next(r for r in aa if r["is_control"])
        challenger = next(r for r in aa if not r["is_control"])
        counts = (challenger["converted"], challenger["entries"], control["converted"], control["entries"])
        low95, high95 = newcombe_interval(*counts, z=NormalDist().inv_cdf(0.975))
        assert (low95, high95) == pytest.approx(
            (float(challenger["difference_ci_low"]), float(challenger["difference_ci_high"])), abs=2e-6
        )
        difference = newcombe_interval(*counts, z=z_family)
        assert difference[0] <= 0 <= difference[1], aa
        declared = {r["winning_variant"] for r in aa} - {None}
        assert declared == (set() if low95 <= 0 <= high95 else {max(aa, key=lambda r: r["conversion_rate"])["variant"]})
        assert [r["workflow_id"] for r in experiments if r["is_sample_ratio_mismatch"]] == []
        # Every workflow the world measures (the hourly cart workflow enters no one in the simulated past:
        # its rows have no entries and so no p-value).
        measured = [r for r in experiments if r["workflow_id"] in TRUTH]
        assert {r["workflow_id"] for r in measured} == set(TRUTH)
        assert all(r["srm_p_value"] >= 0.001 for r in measured)

    def test_broken_assignment_fires_the_ratio_check(self, campaign: Campaign) -> None:
        """Deleting a third of one variant's journey entries (and their ledger rows) — a broken
        assignment — makes the chi-square check fire for that workflow only, and no winner is declared."""
        workflow_id = "win_back"
        with psycopg.connect(campaign.url) as conn:
            variant = conn.execute(
                "select variant from loyalty.journey_entries where workflow_id = %s and not is_holdout "
                "order by variant limit 1",
                [workflow_id],
            ).fetchone()[0]
            conn.execute(
                """with doomed as (
                       delete from loyalty.journey_entries
                       where workflow_id = %(w)s and variant = %(v)s and customer_id %% 3 = 0
                       returning workflow_id, customer_id, cycle_key)
                   delete from loyalty.send_ledger as sends using doomed
                   where sends.workflow_id = doomed.workflow_id and sends.customer_id = doomed.customer_id
                       and sends.cycle_key = doomed.cycle_key""",
                {"w": workflow_id, "v": variant},
            )
        _build_metrics(campaign.url)
        experiments = _rows(campaign.url, "select * from marts.metrics_workflow_experiments")
        fired = {r["workflow_id"] for r in experiments if r["is_sample_ratio_mismatch"]}
        assert fired == {workflow_id}
        assert all(r["winning_variant"] is None for r in experiments if r["workflow_id"] == workflow_id)
        scorecard = _rows(
            campaign.url, "select * from marts.metrics_workflow_variants where workflow_id = %s", [workflow_id]
        )
        assert all(r["is_sample_ratio_mismatch"] for r in scorecard)
