"""`loyalty preview`: the exact messages one customer would get from a workflow on a run date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from loyalty.assignment import assign, global_holdout
from loyalty.channels.message_size import sms_size
from loyalty.specs import CHANNEL_CONSENT, compile_journey, load_spec
from loyalty.specs.templates import message_context, render, render_message, template_for
from loyalty.sql_files import query


@dataclass(frozen=True)
class Preview:
    workflow_id: str
    customer_id: int
    run_date: dt.date | None
    arm: str | None  # variant id, "holdout", or None when not eligible
    messages: list[dict[str, str]]  # step_id, channel and the rendered template fields
    ledger: list[dict[str, Any]]  # the customer's ledger rows of this workflow


def preview(conn: psycopg.Connection, spec_path: Path, customer_id: int, run_date: dt.date | None) -> Preview:
    """Render every message step for the customer as the ledger would (same arm, channel, locale)."""
    spec = load_spec(spec_path)
    audience = sql.Identifier(spec.audience.schema_, spec.audience.model)
    with conn.cursor(row_factory=dict_row) as cur:
        if run_date is None:
            latest = cur.execute(sql.SQL("select max(run_date) as d from {}").format(audience)).fetchone()
            run_date = latest["d"] if latest else None
        row = cur.execute(
            sql.SQL("select * from {} where customer_id = %s and run_date = %s").format(audience),
            [customer_id, run_date],
        ).fetchone()
        history = cur.execute(
            query("ledger/customer_history.sql"), {"workflow_id": spec.id, "customer_id": customer_id}
        ).fetchall()
    if row is None:
        return Preview(spec.id, customer_id, run_date, None, [], history)
    context = {key: (value.isoformat() if isinstance(value, dt.date) else value) for key, value in row.items()}
    ids, cumulative = spec.variant_weights()
    arm = assign(
        customer_id, spec.id, spec.experiment.salt, spec.experiment.holdout_pct, ids, cumulative, global_holdout()
    )
    messages: list[dict[str, str]] = []
    if arm != "holdout":
        allowed = contactable_channels(conn, context)
        for action in compile_journey(spec):
            if action.kind != "message":
                continue
            order = action.channels
            if action.prefers and context.get("preferred_channel") in order:  # as plan_action.sql chooses
                order = (context["preferred_channel"], *(c for c in order if c != context["preferred_channel"]))
            channel = next((c for c in order if allowed.get(c)), None)
            template = template_for(spec, arm, action.step_id, context.get("locale"))
            # Every field, as for email; `channel` is the one the plan would take.
            routed = {**context, "channel": channel or order[0]}
            fields = render(template, message_context(spec, action.channels, routed))
            if channel == "sms":  # what the carrier bills: the text as sent, in segments
                fields["sms_size"] = str(sms_size(render_message(spec, arm, action.step_id, channel, context)[1]))
            messages.append(
                {"step_id": action.step_id, "channel": channel or "suppressed: no channel we may contact", **fields}
            )
    return Preview(spec.id, customer_id, run_date, arm, messages, history)


def contactable_sql() -> str:
    """The contact-permission rule for one audience row, shaped for every channel (sql_lint lints this)."""
    return query("ledger/contactable_channels.sql", structure={"contact_columns": CHANNEL_CONSENT})


def contactable_channels(conn: psycopg.Connection, context: dict[str, Any]) -> dict[str, bool]:
    """Per channel, whether the plan may contact this audience row on it now (consent, address, suppression list)."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(contactable_sql(), {"context": Jsonb(context)}).fetchone()
    return {channel: bool(allowed) for channel, allowed in (found or {}).items()}
