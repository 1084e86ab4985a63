"""The send ledger: enter journeys, plan every due step, claim rows, record what providers said.

Guarantees (docs/guarantees.md): one row per (workflow, step, customer, cycle), written before any
request; a row is claimed (pending -> sending) in its own committed transaction before its
request; a row found in `sending` is never resent blindly, only reconciled or marked `unknown`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import psycopg
from jinja2 import Environment, StrictUndefined
from psycopg import sql
from psycopg.types.json import Jsonb

from loyalty.channels.base import Message, PermanentError, SendResult
from loyalty.journeys import Action, compile_journey
from loyalty.specs import WorkflowSpec
from loyalty.templates import render_message
from loyalty.warehouse import read_sql

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractContextManager[psycopg.Connection]]
EVENT_TYPES = {
    "delivered": ["delivered"],
    "opened": ["open", "opened"],
    "clicked": ["click", "clicked"],
}


class Sender(Protocol):
    """What the ledger needs from a channel (SendGridEmail satisfies it)."""

    def send(self, messages: list[Message], categories: list[str]) -> SendResult: ...


@dataclass
class StepSummary:
    workflow_id: str
    step_id: str
    run_date: str
    planned: int = 0
    held_out: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _sql_templates() -> Environment:
    """Jinja for the structure of journey SQL (values stay bound parameters)."""
    return Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)  # noqa: S701 - SQL


def enter(conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date) -> int:
    """Enter today's eligible customers (holdout/variant decided here, once per cycle)."""
    audience = sql.Identifier(spec.audience.schema_, spec.audience.model)
    entered_on = (
        sql.SQL("audience.{}::date").format(sql.Identifier(spec.audience.entered_on))
        if spec.audience.entered_on
        else sql.SQL("%(run_date)s::date")
    )
    variant_ids, cumulative = spec.variant_weights()
    query = sql.SQL(read_sql("enter_journeys.sql")).format(audience=audience, entered_on=entered_on)
    return conn.execute(
        query,
        {
            "workflow_id": spec.id,
            "run_date": run_date,
            "salt": spec.experiment.salt,
            "holdout_pct": spec.experiment.holdout_pct,
            "variant_ids": variant_ids,
            "cumulative_weights": cumulative,
            "cooldown_days": spec.policies.cooldown_days,
        },
    ).rowcount


def render_action_sql(spec: WorkflowSpec, action: Action) -> str:
    """The planning SQL for one action; its shape depends only on the spec."""
    template = _sql_templates().from_string(read_sql("plan_action.sql"))
    return template.render(
        first=not action.parents,
        condition=action.condition[0] if action.condition else None,
        condition_negated=bool(action.condition and action.condition[1]),
        until=action.until[0] if action.until else None,
        exit_on_purchase="purchased" in spec.exit_on,
        exit_on_unsubscribe="unsubscribed" in spec.exit_on,
        channels=list(action.channels),
    )


def plan_action(conn: psycopg.Connection, spec: WorkflowSpec, action: Action, run_date: dt.date) -> StepSummary:
    """Insert the ledger rows of one action that are due on run_date; reruns insert nothing."""
    params: dict[str, Any] = {
        "workflow_id": spec.id,
        "step_id": action.step_id,
        "run_date": run_date,
        "delay_days": action.delay_days,
        "parent_steps": list(action.parents),
        "first_channel": action.channels[0],
        "condition_events": EVENT_TYPES.get(action.condition[0], []) if action.condition else [],
        "until_events": EVENT_TYPES.get(action.until[0], []) if action.until else [],
        "until_max_days": action.until[1] if action.until else 0,
    }
    conn.execute(render_action_sql(spec, action), params)
    summary = StepSummary(spec.id, action.step_id, run_date.isoformat())
    rows = conn.execute(
        """select status, coalesce(status_reason, ''), channel, count(*) from loyalty.send_ledger
           where workflow_id = %s and step_id = %s and run_date = %s group by 1, 2, 3""",
        [spec.id, action.step_id, run_date],
    ).fetchall()
    for status, reason, channel, count in rows:
        if status == "holdout":
            summary.held_out += count
        elif status == "suppressed":
            summary.suppressed[reason] = summary.suppressed.get(reason, 0) + count
        else:
            summary.planned += count
            summary.channels[channel] = summary.channels.get(channel, 0) + count
    return summary


def plan(conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date) -> tuple[int, list[StepSummary]]:
    """Enter, then plan every action in journey order (a step due today sees earlier steps' rows)."""
    entered = enter(conn, spec, run_date)
    return entered, [plan_action(conn, spec, action, run_date) for action in compile_journey(spec)]


def assign_batches(conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date) -> dict[str, list[str]]:
    """Batch ids with pending rows, by channel (new ones and any left by an earlier failed run)."""
    conn.execute(
        read_sql("assign_batches.sql"),
        {"workflow_id": spec.id, "run_date": run_date, "batch_size": spec.batch_size},
    )
    rows = conn.execute(
        """select channel, batch_id from loyalty.send_ledger
           where workflow_id = %s and status = 'pending' and batch_id is not null
           group by channel, batch_id order by batch_id""",
        [spec.id],
    ).fetchall()
    batches: dict[str, list[str]] = {channel: [] for channel in spec.channels()}
    for channel, batch_id in rows:
        batches.setdefault(channel, []).append(batch_id)
    return batches


def reconcile_stuck(conn: psycopg.Connection, workflow_id: str) -> int:
    """Rows left in `sending` by a crashed task: mark them `unknown` (reported), never resend."""
    return conn.execute(
        """update loyalty.send_ledger
           set status = 'unknown', status_reason = 'left in sending by an interrupted task', updated_at = now()
           where workflow_id = %s and status = 'sending'""",
        [workflow_id],
    ).rowcount


def _message(spec: WorkflowSpec, row: tuple) -> Message:
    send_id, _customer_id, step_id, channel, variant, recipient, context = row
    subject, body = render_message(spec, variant, step_id, channel, context)
    return Message(send_id=send_id, recipient=recipient, subject=subject, body=body, step_id=step_id)


def batch_channel(conn: psycopg.Connection, batch_id: str) -> str | None:
    row = conn.execute("select channel from loyalty.send_ledger where batch_id = %s limit 1", [batch_id]).fetchone()
    return row[0] if row else None


def send_batch(
    connect: ConnectionFactory, spec: WorkflowSpec, batch_id: str, senders: Mapping[str, Sender]
) -> dict[str, int]:
    """Claim a batch, send it in one provider request, record the outcome.

    Three transactions: claim (commit) -> request -> record. A crash between claim and record
    leaves rows in `sending`, which `reconcile_stuck` handles; nothing is ever sent twice.
    """
    with connect() as conn:
        channel = batch_channel(conn, batch_id)
    if channel is None:
        return {"claimed": 0, "sent": 0, "failed": 0}
    sender = senders.get(channel)
    if sender is None:  # checked before claiming, so the rows stay pending for a configured run
        raise RuntimeError(f"no sender configured for channel {channel!r} (batch {batch_id} left pending)")
    with connect() as conn:
        rows = conn.execute(read_sql("claim_batch.sql"), {"batch_id": batch_id}).fetchall()
    if not rows:
        return {"claimed": 0, "sent": 0, "failed": 0}
    messages = [_message(spec, row) for row in rows]
    send_ids = [m.send_id for m in messages]
    try:
        result = sender.send(messages, categories=["loyalty", spec.id])
    except PermanentError as error:
        with connect() as conn:
            conn.execute(
                """update loyalty.send_ledger set status = 'failed', status_reason = %s, updated_at = now()
                   where send_id = any(%s) and status = 'sending'""",
                [str(error)[:500], send_ids],
            )
        log.error("batch %s refused by the provider: %s", batch_id, error)
        return {"claimed": len(rows), "sent": 0, "failed": len(rows)}
    except Exception:
        # The request did not complete: the provider may or may not have accepted it. Rows stay in
        # `sending` for reconciliation; re-raising lets Airflow record the failure.
        log.exception("batch %s: request outcome unknown; %d rows left in sending", batch_id, len(rows))
        raise
    with connect() as conn:
        conn.execute(
            """update loyalty.send_ledger
               set status = 'sent', provider_message_id = %s, provider_response = %s,
                   sent_at = now(), updated_at = now()
               where send_id = any(%s) and status = 'sending'""",
            [result.provider_message_id, Jsonb(result.response), send_ids],
        )
    return {"claimed": len(rows), "sent": len(rows), "failed": 0}


def run_summary(conn: psycopg.Connection, workflow_id: str, run_date: dt.date) -> dict[str, dict[str, int]]:
    """Ledger rows of one run date by step and status: what the data team sees after each run."""
    summary: dict[str, dict[str, int]] = {}
    for step_id, status, count in conn.execute(
        """select step_id, status, count(*) from loyalty.send_ledger
           where workflow_id = %s and run_date = %s group by 1, 2 order by 1, 2""",
        [workflow_id, run_date],
    ):
        summary.setdefault(step_id, {})[status] = count
    return summary


def record_run(
    conn: psycopg.Connection,
    spec: WorkflowSpec,
    run_date: dt.date,
    run_id: str,
    dry_run: bool,
    entered: int,
    steps: list[StepSummary],
) -> None:
    """Upsert the per-step summary of a DAG run into loyalty.workflow_runs."""
    final = {} if dry_run else run_summary(conn, spec.id, run_date)
    for step in steps:
        statuses = final.get(step.step_id, {})
        conn.execute(
            """insert into loyalty.workflow_runs (workflow_id, run_date, run_id, step_id, dry_run, entered,
                   planned, held_out, suppressed, sent, failed, unknown)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (workflow_id, run_date, run_id, step_id) do update set
                   planned = excluded.planned, held_out = excluded.held_out, suppressed = excluded.suppressed,
                   sent = excluded.sent, failed = excluded.failed, unknown = excluded.unknown,
                   recorded_at = now()""",
            [
                spec.id,
                run_date,
                run_id,
                step.step_id,
                dry_run,
                entered,
                step.planned,
                step.held_out,
                Jsonb(step.suppressed),
                statuses.get("sent", 0),
                statuses.get("failed", 0),
                statuses.get("unknown", 0),
            ],
        )
