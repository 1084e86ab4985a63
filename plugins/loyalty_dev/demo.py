"""The end-to-end demo: a synthetic retailer, real Airflow runs per simulated day, real sends.

Each campaign day: the world lands the day's data in raw and reacts to delivered messages; the
warehouse DAG builds dbt as of that day; the win-back DAG plans, assigns and sends through the
real SendGrid client to the emulator, whose signed webhooks flow back into raw.message_events (both
DAGs' runs in one Airflow process: loyalty_dev.dag_runs).
After the last attribution window closes, the metrics DAG builds the marts the report reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx

from loyalty import report, warehouse
from loyalty_dev import local_airflow
from loyalty_dev.services import Service, start_service
from loyalty_dev.simulation import GeneratorConfig, advance_to, generate, react_to_messages
from loyalty_dev.simulation.truth import TRUTH, expected_absolute_lift
from loyalty_dev.simulation.world import delivered_messages_from_emulator

EMULATOR_API_KEY = "SG.local-emulator"
APP_EVENTS_SECRET = "local-app-events-secret"  # noqa: S105  # the local stack's shared secret for POST /events/app
WORKFLOW_DAGS = ("win_back",)
# What `loyalty-dev demo` runs: win-back (email) and the points expiry reminder (push, else SMS, else email),
# so the per-channel table shows every channel. The whole catalogue runs in tests/e2e/test_catalogue_week.py.
DEMO_WORKFLOW_DAGS = ("win_back", "points_expiry_reminder")
CHANNEL_POOLS = {"email": 4, "sms": 4, "push": 4, "reward": 2}  # one Airflow pool per channel


@dataclass(frozen=True)
class DemoConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    run_every_days: int = 7
    workflows: tuple[str, ...] = WORKFLOW_DAGS  # the workflow DAGs each simulated day runs

    def run_days(self) -> list[dt.date]:
        g = self.generator
        return [
            g.campaign_start + dt.timedelta(days=offset) for offset in range(0, g.campaign_days, self.run_every_days)
        ]


@dataclass
class Stack:
    """The running local services the demo and the end-to-end tests share."""

    warehouse_url: str
    emulator: Service
    receiver: Service
    airflow_env: dict[str, str]

    def set_clock(self, moment: dt.datetime) -> None:
        httpx.post(
            f"{self.emulator.url}/_emulator/clock", json={"now": moment.isoformat()}, timeout=10
        ).raise_for_status()

    def flush_webhooks(self) -> dict[str, Any]:
        response = httpx.post(f"{self.emulator.url}/_emulator/flush", json={"timeout": 120}, timeout=130)
        response.raise_for_status()
        flushed: dict[str, Any] = response.json()
        return flushed


def start_stack(stack: ExitStack, warehouse_url: str, seed: int) -> Stack:
    """Emulator first (it owns the signing key), then the receiver with that key, then wire them."""
    emulator = start_service(
        "emulator",
        [
            "loyalty_dev.emulator",
            *("--port", "0", "--seed", str(seed), "--api-key", EMULATOR_API_KEY),
            *(
                "--twilio-auth-token",
                local_airflow.LOCAL_TWILIO_TOKEN,
                "--fcm-access-token",
                local_airflow.LOCAL_FCM_TOKEN,
            ),
            *("--push-secret", local_airflow.LOCAL_PUSH_SECRET),
        ],
    )
    stack.callback(emulator.stop)
    key = httpx.get(
        f"{emulator.url}/v3/user/webhooks/event/settings/signed",
        headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
        timeout=10,
    ).json()["public_key"]
    receiver = start_service(
        "webhooks",
        ["loyalty.cli", "webhooks", "--port", "0"],
        env={
            "LOYALTY_WAREHOUSE_URL": warehouse_url,
            "LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY": key,
            "LOYALTY_APP_EVENTS_SECRET": APP_EVENTS_SECRET,
            "LOYALTY_UNSUBSCRIBE_SECRET": local_airflow.LOCAL_UNSUBSCRIBE_SECRET,
            "LOYALTY_TWILIO_AUTH_TOKEN": local_airflow.LOCAL_TWILIO_TOKEN,
            "LOYALTY_PUSH_WEBHOOK_SECRET": local_airflow.LOCAL_PUSH_SECRET,
        },
    )
    stack.callback(receiver.stop)
    httpx.patch(
        f"{emulator.url}/v3/user/webhooks/event/settings",
        headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
        json={"enabled": True, "url": f"{receiver.url}/webhooks/sendgrid"},
        timeout=10,
    ).raise_for_status()
    # Replies (STOP, PARAR...) and the app's push receipts go to the receiver too; status callbacks go where
    # each message's StatusCallback says (the loyalty_twilio connection's, below).
    targets = {"sms_inbound_url": "/webhooks/twilio/inbound", "push_receipt_url": "/webhooks/push"}
    settings = {key: f"{receiver.url}{path}" for key, path in targets.items()}
    httpx.post(f"{emulator.url}/_emulator/settings", json=settings, timeout=10).raise_for_status()
    env = local_airflow.airflow_env(
        warehouse_url, sendgrid_host=emulator.url, sendgrid_key=EMULATOR_API_KEY, webhooks_url=receiver.url
    )
    env["LOYALTY_WEBHOOKS_PUBLIC_URL"] = receiver.url  # where the emails' unsubscribe links point
    return Stack(warehouse_url, emulator, receiver, env)


def simulate_day(stack: Stack, cfg: DemoConfig, day: dt.date) -> None:
    """One campaign day: world reacts and lands data, then real warehouse and workflow DAG runs."""
    world_moves(stack, cfg, day)
    stack.set_clock(dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC))
    local_airflow.dags_test_many(["loyalty_warehouse", *cfg.workflows], day, stack.airflow_env)
    stack.flush_webhooks()


def world_moves(stack: Stack, cfg: DemoConfig, day: dt.date) -> None:
    with warehouse.connect(stack.warehouse_url) as conn:
        messages = delivered_messages_from_emulator(stack.emulator.url)
        react_to_messages(conn, messages, cfg.generator.seed, cfg.run_every_days)
        advance_to(conn, day)


def prepare_world(url: str, cfg: DemoConfig, progress: Callable[[str], None]) -> None:
    """Create the app's tables and write the synthetic retailer (history released, future scheduled)."""
    warehouse.init_schema(url)
    with warehouse.connect(url) as conn:
        progress(f"generating a synthetic retailer: {cfg.generator.customers:,} customers")
        counts = generate(conn, cfg.generator)
        warehouse.drop_dbt_schemas(conn)  # derived from the previous world, snapshots included
    progress(f"  {counts['scheduled_orders']:,} orders scheduled, {counts['released_orders']:,} in history")


def run_campaign(running: Stack, cfg: DemoConfig, progress: Callable[[str], None]) -> list[dict]:
    """Real Airflow runs for every campaign day, then the metrics DAG; returns the report rows."""
    progress("preparing Airflow (metadata DB, pools)")
    local_airflow.prepare(running.airflow_env, pools=CHANNEL_POOLS)
    days = cfg.run_days()
    for number, day in enumerate(days, start=1):
        progress(f"day {number}/{len(days)} {day}: warehouse DAG, then {', '.join(cfg.workflows)}")
        simulate_day(running, cfg, day)
    end = cfg.generator.horizon_end
    progress(f"{end}: attribution windows closed; metrics DAG")
    world_moves(running, cfg, end)
    local_airflow.dags_test("loyalty_metrics", end, running.airflow_env)
    with warehouse.connect(running.warehouse_url) as conn:
        return report.fetch_results(conn)


def run_demo(cfg: DemoConfig, progress: Callable[[str], None] = print) -> list[dict]:
    """Run the whole demo and return the report rows (also what `loyalty report` prints)."""
    url = warehouse.resolve_url()
    prepare_world(url, cfg, progress)
    with ExitStack() as stack:
        running = start_stack(stack, url, cfg.generator.seed)
        progress(f"emulator at {running.emulator.url}, webhook receiver at {running.receiver.url}")
        return run_campaign(running, cfg, progress)


def truth_lines(rows: list[dict]) -> list[str]:
    """For the demo: the generator's true effect next to what the holdout comparison measured."""
    lines = []
    holdouts = {r["workflow_id"]: r for r in rows if r.get("arm_type") == "holdout"}
    for row in rows:
        holdout = holdouts.get(row["workflow_id"])
        if (
            row["is_holdout"]
            or holdout is None
            or row["absolute_lift"] is None
            or row["workflow_id"] not in TRUTH
            or not row["audience"]
        ):
            continue
        truth = expected_absolute_lift(
            row["workflow_id"], holdout["conversion_rate"], row["delivered"] / row["audience"]
        )
        covered = row["lift_ci_low"] <= truth <= row["lift_ci_high"]
        lines.append(
            f"{row['workflow_id']}/{row['variant']}: true lift {truth:+.2%} (generator) vs measured "
            f"{row['absolute_lift']:+.2%} [{row['lift_ci_low']:+.2%}, {row['lift_ci_high']:+.2%}]: "
            + ("interval covers the truth" if covered else "interval MISSES the truth")
        )
    return lines
