"""The send ledger: plan rows before any request, claim them, record what the provider said.

Guarantees (docs/guarantees.md): one row per (workflow, step, customer, cycle); a row is claimed
(pending -> sending) in its own committed transaction before its request; a row found in
`sending` is never resent blindly, only reconciled or marked `unknown`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from loyalty.channels.base import Message, PermanentError, SendResult
from loyalty.specs import WorkflowSpec
from loyalty.templates import render, template_for
from loyalty.warehouse import read_sql

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractContextManager[psycopg.Connection]]


class Sender:
    """What the ledger needs from a channel (SendGridEmail satisfies it)."""

    def send(self, messages: list[Message], categories: list[str]) -> SendResult: ...


@dataclass
class PlanSummary:
    workflow_id: str
    step_id: str
    run_date: str
    eligible: int = 0
    new_rows: int = 0
    held_out: int = 0
    pending: int = 0
    variants: dict[str, int] = field(default_factory=dict)


def plan_step(conn: psycopg.Connection, spec: WorkflowSpec, step_id: str, run_date: dt.date) -> PlanSummary:
    """Insert this run's ledger rows (holdout and pending) for one step; reruns insert nothing."""
    audience = sql.Identifier(spec.audience.schema_, spec.audience.model)
    variant_ids, cumulative = spec.variant_weights()
    step = next(s for s in spec.steps if s.id == step_id)
    query = sql.SQL(read_sql("plan_sends.sql")).format(audience=audience)
    params = {
        "workflow_id": spec.id,
        "step_id": step_id,
        "run_date": run_date,
        "salt": spec.experiment.salt,
        "holdout_pct": spec.experiment.holdout_pct,
        "variant_ids": variant_ids,
        "cumulative_weights": cumulative,
        "channel": step.channel,
    }
    summary = PlanSummary(spec.id, step_id, run_date.isoformat())
    summary.new_rows = conn.execute(query, params).rowcount
    summary.eligible = conn.execute(
        sql.SQL("select count(*) from {} where run_date = %s").format(audience), [run_date]
    ).fetchone()[0]
    for variant, count in conn.execute(
        """select variant, count(*) from loyalty.send_ledger
           where workflow_id = %s and step_id = %s and run_date = %s group by variant order by variant""",
        [spec.id, step_id, run_date],
    ):
        summary.variants[variant] = count
    summary.held_out = summary.variants.get("holdout", 0)
    summary.pending = sum(c for v, c in summary.variants.items() if v != "holdout")
    return summary


def assign_batches(conn: psycopg.Connection, spec: WorkflowSpec, step_id: str, run_date: dt.date) -> list[str]:
    """Batch ids with pending rows for this step (new ones and any left by an earlier failed run)."""
    conn.execute(
        read_sql("assign_batches.sql"),
        {
            "workflow_id": spec.id,
            "step_id": step_id,
            "run_date": run_date,
            "batch_size": spec.batch_size,
            "batch_prefix": f"{spec.id}:{step_id}:{run_date.isoformat()}",
        },
    )
    rows = conn.execute(
        """select distinct batch_id from loyalty.send_ledger
           where workflow_id = %s and step_id = %s and status = 'pending' and batch_id is not null
           order by batch_id""",
        [spec.id, step_id],
    ).fetchall()
    return [row[0] for row in rows]


def reconcile_stuck(conn: psycopg.Connection, workflow_id: str) -> int:
    """Rows left in `sending` by a crashed task: mark them `unknown` (reported), never resend."""
    return conn.execute(
        """update loyalty.send_ledger
           set status = 'unknown', status_reason = 'left in sending by an interrupted task', updated_at = now()
           where workflow_id = %s and status = 'sending'""",
        [workflow_id],
    ).rowcount


def _render(spec: WorkflowSpec, row: tuple) -> Message:
    send_id, _customer_id, variant, recipient, context = row
    subject, body = render(template_for(spec, variant, context.get("locale")), context)
    return Message(send_id=send_id, recipient=recipient, subject=subject, body=body)


def send_batch(connect: ConnectionFactory, spec: WorkflowSpec, batch_id: str, sender: Sender) -> dict[str, int]:
    """Claim a batch, send it in one provider request, record the outcome.

    Three transactions: claim (commit) -> request -> record. A crash between claim and record
    leaves rows in `sending`, which `reconcile_stuck` handles; nothing is ever sent twice.
    """
    with connect() as conn:
        rows = conn.execute(read_sql("claim_batch.sql"), {"batch_id": batch_id}).fetchall()
    if not rows:
        return {"claimed": 0, "sent": 0, "failed": 0}
    messages = [_render(spec, row) for row in rows]
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


def run_summary(conn: psycopg.Connection, workflow_id: str, run_date: dt.date) -> dict[str, int]:
    """Ledger rows of one run date by status: what the data team sees after each run."""
    rows = conn.execute(
        """select status, count(*) from loyalty.send_ledger
           where workflow_id = %s and run_date = %s group by status order by status""",
        [workflow_id, run_date],
    ).fetchall()
    return {status: count for status, count in rows}


__all__ = [
    "PlanSummary",
    "asdict",
    "assign_batches",
    "plan_step",
    "reconcile_stuck",
    "run_summary",
    "send_batch",
]
