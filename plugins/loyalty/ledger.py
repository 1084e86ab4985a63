"""The send ledger: enter journeys, plan every due step, claim rows, record what providers said.

Guarantees (docs/guarantees.md): one row per (workflow, step, customer, cycle) — and one fallback row on
another channel after a dead address — written before any request; a row is claimed (pending -> sending)
in its own committed transaction before its request; a row found in `sending` is never resent blindly:
it is looked up at the provider and becomes `sent` (the provider has it), `pending` again (the
provider's authoritative lookup says it never arrived, and the claim is older than the grace period) or
`unknown` (reported).

Only this module writes loyalty.send_ledger (its statements are loyalty/sql/ledger/*.sql; others, e.g. the
audience gate's suppression, call it): tests/unit/test_sql_files.py::TestWrites fails otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypedDict

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from loyalty.assignment import GlobalHoldout, global_holdout
from loyalty.channels.base import Lookup, Message, Outcome
from loyalty.program import Program, load_program
from loyalty.specs import CHANNEL_CONSENT, Action, WorkflowSpec, branch_siblings, compile_journey
from loyalty.specs.templates import render_message
from loyalty.sql_files import query

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractContextManager[psycopg.Connection]]
EVENT_TYPES = {
    "delivered": ["delivered"],
    "opened": ["open", "opened"],
    "clicked": ["click", "clicked"],
}


# A claimed row older than this (and not kept fresh by a live task's heartbeat) belongs to a dead
# task; its request, if any, has long finished at the provider, so a lookup can be trusted.
RECONCILE_GRACE_S = 120.0
HEARTBEAT_S = 30.0
LOOKUP_CHUNK = 1000
# loyalty.contactability reasons that say an address is dead, not that its owner said no: a message that
# met one falls back, once, to the step's next channel (an opt-out, unsubscribe or spam report never does).
DEAD_ADDRESS_REASONS = (
    "email_bounce",  # a hard bounce (the webhook receiver)
    "email_invalid_address",  # SendGrid refused the address (channels.sendgrid_email)
    "sms_invalid_number",  # Twilio 21211/21614 (channels.twilio_sms)
    "sms_unknown_destination",  # a 30005 delivery callback (webhooks.consent)
    "sms_landline_or_unreachable_carrier",  # a 30006 delivery callback
    "push_unregistered",  # FCM UNREGISTERED: the app was deleted (channels.fcm_push)
)
ANALYZE_AFTER_ROWS = 5_000


class Sender(Protocol):
    """What the ledger needs from a channel (SendGridEmail, TwilioSms, FcmPush, RewardGranter)."""

    def deliver(self, messages: Sequence[Message], categories: Sequence[str]) -> list[Outcome]: ...

    def lookup_ids(self, send_ids: Iterable[str]) -> Lookup | None: ...

    def close(self) -> None: ...


class IncompleteBatch(RuntimeError):
    """Some rows of a batch went back to pending or stayed in doubt: the task should fail so that
    Airflow retries it (the retry sends only what is pending, after reconciling)."""

    def __init__(self, batch_id: str, counts: dict[str, int]) -> None:
        super().__init__(f"batch {batch_id} incomplete: {counts}")
        self.counts = counts


class StepCounts(TypedDict):
    """A StepSummary as plain data (it crosses Airflow's XCom from plan to summarize)."""

    workflow_id: str
    step_id: str
    run_date: str
    planned: int
    held_out: int
    suppressed: dict[str, int]
    deferred: dict[str, int]
    channels: dict[str, int]


@dataclass
class StepSummary:
    workflow_id: str
    step_id: str
    run_date: str
    planned: int = 0
    held_out: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)  # by reason: waiting for a day they fit
    channels: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> StepCounts:
        return StepCounts(
            workflow_id=self.workflow_id,
            step_id=self.step_id,
            run_date=self.run_date,
            planned=self.planned,
            held_out=self.held_out,
            suppressed=dict(self.suppressed),
            deferred=dict(self.deferred),
            channels=dict(self.channels),
        )


class ClaimedRow(NamedTuple):
    """A ledger row claim_batch.sql claimed for sending (its select list, in order)."""

    send_id: str
    customer_id: int
    step_id: str
    channel: str
    variant: str
    recipient: str | None  # null on reward rows
    context: dict[str, Any]  # the audience row at entry: the templates' variables


def enter(conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date, global_: GlobalHoldout | None = None) -> int:
    """Enter today's eligible customers (holdout/variant decided here, once per cycle)."""
    global_ = global_ or global_holdout()
    audience = sql.Identifier(spec.audience.schema_, spec.audience.model)
    entered_on = (
        sql.SQL("audience.{}::date").format(sql.Identifier(spec.audience.entered_on))
        if spec.audience.entered_on
        else sql.SQL("%(run_date)s::date")
    )
    variant_ids, cumulative = spec.variant_weights()
    return conn.execute(
        query("ledger/enter_journeys.sql", identifiers={"audience": audience, "entered_on": entered_on}),
        {
            "workflow_id": spec.id,
            "run_date": run_date,
            "salt": spec.experiment.salt,
            "holdout_pct": spec.experiment.holdout_pct,
            "variant_ids": variant_ids,
            "cumulative_weights": cumulative,
            "cooldown_days": spec.policies.cooldown_days,
            "global_salt": global_.salt,
            "global_holdout_pct": global_.pct,
        },
    ).rowcount


def render_action_sql(
    spec: WorkflowSpec,
    action: Action,
    windowed: bool = False,
    siblings: Sequence[str] = (),
    program: Program | None = None,
    fallback: bool = False,
) -> str:
    """The planning SQL for one action; its shape depends only on the spec and the program config (and
    on whether an earlier completed plan bounds the entries or parent rows to read). `fallback`: the
    statement that gives a message whose address proved dead a second row on the next channel."""
    structure = {
        "fallback": fallback,
        "windowed": windowed,
        "siblings": bool(siblings),
        "frequency_cap": (program or load_program()).frequency_cap_for(spec) is not None,
        "first": not action.parents,
        "condition": action.condition[0] if action.condition else None,
        "condition_negated": bool(action.condition and action.condition[1]),
        "until": action.until[0] if action.until else None,
        "exit_on_purchase": "purchased" in spec.exit_on,
        "exit_on_unsubscribe": "unsubscribed" in spec.exit_on,
        "channels": list(action.channels),
        "prefers": action.prefers,
        "contact_columns": CHANNEL_CONSENT,
    }
    return query("ledger/plan_action.sql", structure=structure)


@dataclass(frozen=True)
class PreviousPlan:
    """The workflow's latest completed plan before a run date: it planned everything due by then."""

    run_date: dt.date
    began_at: dt.datetime  # its transaction's start: later status changes (sends) come after it


def previous_plan(conn: psycopg.Connection, workflow_id: str, run_date: dt.date) -> PreviousPlan | None:
    row = conn.execute(query("ledger/previous_plan.sql"), {"workflow_id": workflow_id, "run_date": run_date}).fetchone()
    return PreviousPlan(*row) if row else None


def plan_action(
    conn: psycopg.Connection,
    spec: WorkflowSpec,
    action: Action,
    run_date: dt.date,
    previous: PreviousPlan | None = None,
    siblings: Sequence[str] = (),
    program: Program | None = None,
) -> StepSummary:
    """Insert the ledger rows of one action that are due on run_date; reruns insert nothing.
    `previous` bounds what is read to what it did not plan; `siblings`: the other arm's first
    steps when the action starts a branch arm. A message step first decides its deferred rows again
    (they go before the day's new ones): expired past their window, pending when they fit today; a step with a
    channel order then gives each of its messages whose address proved dead one fallback row (channel_attempt 2)."""
    program = program or load_program()
    valid_days = program.valid_days_for(action)
    cap = program.frequency_cap_for(spec)
    params: dict[str, Any] = {
        "planned_through": previous.run_date if previous else None,
        "planned_at": previous.began_at if previous else None,
        "window_days": max(action.delay_days, action.until[1] if action.until else 0),
        "sibling_steps": list(siblings),
        "condition_days": action.condition_days,
        "workflow_id": spec.id,
        "step_id": action.step_id,
        "run_date": run_date,
        "delay_days": action.delay_days,
        "parent_steps": list(action.parents),
        "first_channel": action.channels[0],
        "condition_events": EVENT_TYPES.get(action.condition[0], []) if action.condition else [],
        "until_events": EVENT_TYPES.get(action.until[0], []) if action.until else [],
        "until_max_days": action.until[1] if action.until else 0,
        "priority": spec.policies.priority,
        "valid_days": valid_days,
        "over_limit": "deferred" if valid_days > 0 else "suppressed",
        "dead_address_reasons": list(DEAD_ADDRESS_REASONS),
    }
    if cap is not None:
        params["cap_messages"] = cap.max_messages
        params["cap_days"] = cap.per_days
    if action.kind == "message":
        conn.execute(query("ledger/expire_deferred.sql"), params)
        conn.execute(query("ledger/release_deferred.sql", structure={"frequency_cap": cap is not None}), params)
    if action.kind == "message" and len(action.channels) > 1:
        fallback_sql = render_action_sql(spec, action, previous is not None, siblings, program, fallback=True)
        conn.execute(fallback_sql, params)
    sql_text = render_action_sql(spec, action, previous is not None, siblings, program)
    inserted = conn.execute(sql_text, params).rowcount
    if inserted >= ANALYZE_AFTER_ROWS:  # fresh statistics, or the planner self-joins the ledger by nested loop
        conn.execute("analyze loyalty.send_ledger")
    if action.kind == "message":
        conn.execute(query("ledger/preempt_lower_priority.sql"), params)
    summary = StepSummary(spec.id, action.step_id, run_date.isoformat())
    rows = conn.execute(
        query("ledger/step_statuses.sql"), {"workflow_id": spec.id, "step_id": action.step_id, "run_date": run_date}
    ).fetchall()
    for status, reason, channel, count in rows:
        if status == "holdout":
            summary.held_out += count
        elif status == "suppressed":
            summary.suppressed[reason] = summary.suppressed.get(reason, 0) + count
        elif status == "deferred":
            summary.deferred[reason] = summary.deferred.get(reason, 0) + count
        else:
            summary.planned += count
            summary.channels[channel] = summary.channels.get(channel, 0) + count
    return summary


def plan(
    conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date, program: Program | None = None
) -> tuple[int, list[StepSummary]]:
    """Enter, then plan every action in journey order (a step due today sees earlier steps' rows),
    and record the plan as completed in the same transaction."""
    program = program or load_program()
    previous = previous_plan(conn, spec.id, run_date)
    entered = enter(conn, spec, run_date, global_holdout(program))
    if entered >= ANALYZE_AFTER_ROWS:  # fresh statistics, or the planner joins a million rows by nested loop
        conn.execute("analyze loyalty.journey_entries")
    actions = compile_journey(spec)
    steps = [
        plan_action(conn, spec, action, run_date, previous, branch_siblings(actions, action), program)
        for action in actions
    ]
    conn.execute(query("ledger/complete_plan.sql"), {"workflow_id": spec.id, "run_date": run_date})
    return entered, steps


def assign_batches(conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date) -> dict[str, list[str]]:
    """Batch ids with pending rows, by channel (new ones and any left by an earlier failed run)."""
    conn.execute(
        query("ledger/assign_batches.sql"),
        {"workflow_id": spec.id, "run_date": run_date, "batch_size": spec.batch_size},
    )
    rows = conn.execute(query("ledger/pending_batches.sql"), {"workflow_id": spec.id}).fetchall()
    batches: dict[str, list[str]] = {channel: [] for channel in spec.channels()}
    for channel, batch_id in rows:
        batches.setdefault(channel, []).append(batch_id)
    return batches


@dataclass
class Reconciled:
    """What reconciling rows left in `sending` found."""

    sent: int = 0
    requeued: int = 0
    unknown: int = 0
    in_flight: int = 0  # claimed less than the grace period ago: maybe a live task's, left alone

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "requeued": self.requeued, "unknown": self.unknown, "in_flight": self.in_flight}


def reconcile_stuck(
    conn: psycopg.Connection,
    workflow_id: str,
    sender_for: Callable[[str], Sender | None] | Mapping[str, Sender],
    grace_seconds: float = RECONCILE_GRACE_S,
    batch_id: str | None = None,
) -> Reconciled:
    """Rows left in `sending` by a killed task, reconciled against the provider's lookup:
    found -> `sent` with the provider's id; certainly never received (authoritative lookup) ->
    `pending`, to be sent once; no lookup or no proof -> `unknown`, reported. Never resent blindly.

    Only rows claimed more than `grace_seconds` ago (live tasks refresh theirs, see `_heartbeat`).
    """
    lookup_sender = sender_for.get if isinstance(sender_for, Mapping) else sender_for
    result = Reconciled()
    rows = conn.execute(
        query("ledger/stuck_sends.sql"),
        {"workflow_id": workflow_id, "grace_seconds": grace_seconds, "batch_id": batch_id or None},
    ).fetchall()
    by_channel: dict[str, list[str]] = {}
    for channel, send_id, is_stale in rows:
        if is_stale:
            by_channel.setdefault(channel, []).append(send_id)
        else:
            result.in_flight += 1
    for channel, send_ids in by_channel.items():
        sender = lookup_sender(channel)
        for start in range(0, len(send_ids), LOOKUP_CHUNK):
            chunk = send_ids[start : start + LOOKUP_CHUNK]
            seen = sender.lookup_ids(chunk) if sender is not None else None
            found = dict(seen.found) if seen is not None else {}
            absent = [s for s in chunk if s not in found]
            requeue = absent if seen is not None and seen.authoritative else []
            unknown = [] if requeue else absent
            if found:
                result.sent += conn.execute(
                    query("ledger/reconcile_sent.sql"),
                    {"send_ids": list(found), "provider_message_ids": list(found.values())},
                ).rowcount
            if requeue:
                result.requeued += conn.execute(query("ledger/reconcile_requeued.sql"), {"send_ids": requeue}).rowcount
            if unknown:
                reason = "left in sending; " + (
                    "the provider has no record of it" if seen is not None else f"no lookup for channel {channel}"
                )
                result.unknown += conn.execute(
                    query("ledger/reconcile_unknown.sql"), {"reason": reason, "send_ids": unknown}
                ).rowcount
    if result.unknown:
        log.error("%s: %d rows left in sending could not be confirmed: marked unknown", workflow_id, result.unknown)
    return result


def _message(spec: WorkflowSpec, row: ClaimedRow) -> Message:
    subject, body = render_message(spec, row.variant, row.step_id, row.channel, row.context)
    return Message(
        send_id=row.send_id,
        recipient=row.recipient,
        subject=subject,
        body=body,
        step_id=row.step_id,
        marketing=spec.sends_marketing_email((row.channel,)),
    )


def _check_sendable(spec: WorkflowSpec, channel: str, sender: Sender) -> None:
    """Refuse, before anything is claimed (the rows stay pending), what the channel may not send: a marketing
    email without a one-click unsubscribe (Gmail and Yahoo reject bulk mail without one since 2024)."""
    if spec.sends_marketing_email((channel,)) and getattr(sender, "unsubscribe", None) is None:
        raise RuntimeError(
            f"{spec.id} sends marketing email but no unsubscribe link is configured: set extra.unsubscribe_secret "
            "on the loyalty_sendgrid connection (or LOYALTY_UNSUBSCRIBE_SECRET) and LOYALTY_WEBHOOKS_PUBLIC_URL; "
            "rows left pending"
        )


def batch_channel(conn: psycopg.Connection, batch_id: str) -> str | None:
    row = conn.execute("select channel from loyalty.send_ledger where batch_id = %s limit 1", [batch_id]).fetchone()
    return row[0] if row else None


@contextmanager
def _heartbeat(connect: ConnectionFactory, batch_id: str, every: float) -> Iterator[None]:
    """While a batch is out, keep its `sending` rows fresh so no reconciliation takes them for a
    dead task's (a 429 storm can hold a batch longer than the grace period)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with connect() as conn:
                    conn.execute(query("ledger/heartbeat.sql"), {"batch_id": batch_id})
            except psycopg.Error:
                log.warning("heartbeat for batch %s failed", batch_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{batch_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def record_outcomes(conn: psycopg.Connection, outcomes: Sequence[Outcome]) -> None:
    """Write each claimed row's outcome, and mark dead addresses non-contactable (one transaction)."""
    rows = [
        {
            "send_id": o.send_id,
            "status": o.status,
            "provider_message_id": o.provider_message_id,
            "reason": o.reason,
            "response": o.response,
        }
        for o in outcomes
    ]
    conn.execute(query("ledger/record_outcomes.sql"), {"outcomes": Jsonb(rows)})
    dead = [o for o in outcomes if o.status == "failed" and o.contactability]
    if dead:
        conn.execute(
            query("ledger/mark_uncontactable.sql"),
            {"send_ids": [o.send_id for o in dead], "reasons": [o.contactability for o in dead]},
        )


def send_batch(
    connect: ConnectionFactory,
    spec: WorkflowSpec,
    batch_id: str,
    senders: Mapping[str, Sender],
    now: dt.datetime | None = None,
    grace_seconds: float = RECONCILE_GRACE_S,
    heartbeat_seconds: float = HEARTBEAT_S,
) -> dict[str, int]:
    """Reconcile what an earlier attempt left in `sending`, defer quiet hours, claim, send, record.

    Transactions: reconcile (commit) -> defer + claim (commit) -> provider requests -> record
    (commit). A crash after the claim leaves rows in `sending`, which the next attempt or plan
    reconciles against the provider; nothing is ever sent twice. Raises IncompleteBatch when rows
    went back to pending or stayed in doubt, so Airflow retries the task.

    A channel with a rate limit sends one batch at a time across every task sharing the warehouse
    (a Postgres advisory lock, see lock_channel_pacing.sql), so its messages-per-second holds for
    the channel, not per Airflow pool slot.
    """
    counts = dict.fromkeys(("claimed", "sent", "failed", "requeued", "in_doubt", "deferred"), 0)
    # One connection, three transactions: reconcile (commit), defer + claim (commit: the point of
    # no return, before any request), record (commit). It sits idle, outside any transaction, while
    # the requests are out.
    with connect() as conn:
        channel = batch_channel(conn, batch_id)
        if channel is None:
            return counts
        sender = senders.get(channel)
        if sender is None:  # checked before claiming, so the rows stay pending for a configured run
            raise RuntimeError(f"no sender configured for channel {channel!r} (batch {batch_id} left pending)")
        _check_sendable(spec, channel, sender)
        reconciled = reconcile_stuck(conn, spec.id, senders, grace_seconds, batch_id=batch_id)
        conn.commit()
        counts.update({f"reconciled_{k}": v for k, v in reconciled.as_dict().items() if v})
        with _channel_pacing(conn, channel, sender):
            _claim_send_record(conn, connect, spec, batch_id, channel, sender, now, heartbeat_seconds, counts)
    return counts


def _is_rate_limited(sender: Sender) -> bool:
    limiter = getattr(sender, "limiter", None)
    return bool(limiter is not None and limiter.interval > 0)


@contextmanager
def _channel_pacing(conn: psycopg.Connection, channel: str, sender: Sender) -> Iterator[None]:
    """With a rate limit, hold the channel's pacing lock (lock_channel_pacing.sql) from before
    the claim (rows wait as `pending`, not `sending`) until the outcomes are recorded."""
    if not _is_rate_limited(sender):
        yield
        return
    conn.execute(query("ledger/lock_channel_pacing.sql"), {"channel": channel})
    conn.commit()
    try:
        yield
    finally:
        if not conn.closed:
            conn.rollback()
            conn.execute(query("ledger/unlock_channel_pacing.sql"), {"channel": channel})
            conn.commit()


def _claim_send_record(
    conn: psycopg.Connection,
    connect: ConnectionFactory,
    spec: WorkflowSpec,
    batch_id: str,
    channel: str,
    sender: Sender,
    now: dt.datetime | None,
    heartbeat_seconds: float,
    counts: dict[str, int],
) -> None:
    """Defer + claim (commit: the point of no return), the provider requests, record (commit)."""
    moment = now or dt.datetime.now(dt.UTC)
    quiet = spec.policies.quiet_hours
    if quiet is not None and channel in ("sms", "push"):
        conn.execute(
            query("ledger/defer_quiet_hours.sql"),
            {"batch_id": batch_id, "now": moment, "quiet_start": quiet.start, "quiet_end": quiet.end},
        )
    rows = conn.execute(query("ledger/claim_batch.sql"), {"batch_id": batch_id, "now": moment}).fetchall()
    deferred = conn.execute(
        "select count(*) from loyalty.send_ledger where batch_id = %s and status = 'pending' and not_before > %s",
        [batch_id, moment],
    ).fetchone()
    counts["deferred"] = deferred[0] if deferred else 0
    conn.commit()
    if not rows:
        return
    counts["claimed"] = len(rows)
    messages = [_message(spec, ClaimedRow(*row)) for row in rows]
    with _heartbeat(connect, batch_id, heartbeat_seconds):
        outcomes = sender.deliver(messages, ["loyalty", spec.id])
    record_outcomes(conn, outcomes)
    conn.commit()
    for outcome in outcomes:
        key = {"sent": "sent", "failed": "failed", "pending": "requeued", "sending": "in_doubt"}[outcome.status]
        counts[key] += 1
    if counts["failed"]:
        reasons = sorted({o.reason or "" for o in outcomes if o.status == "failed"})[:5]
        log.error("batch %s: %d refused for good (%s)", batch_id, counts["failed"], reasons)
    if counts["requeued"] or counts["in_doubt"]:
        raise IncompleteBatch(batch_id, counts)


def planned_messages(conn: psycopg.Connection, workflow_id: str, run_date: dt.date) -> Iterable[tuple[Any, ...]]:
    """(step, channel, variant, customer, audience row) of every message planned (pending) for a run date,
    read as it is iterated."""
    return conn.execute(query("ledger/planned_messages.sql"), {"workflow_id": workflow_id, "run_date": run_date})


def suppress_pending(conn: psycopg.Connection, workflow_id: str, run_date: dt.date, reason: str) -> int:
    """Suppress a run date's pending rows (the audience gate failed) so no later batch sends them."""
    return conn.execute(
        query("ledger/suppress_pending.sql"), {"workflow_id": workflow_id, "run_date": run_date, "reason": reason}
    ).rowcount


def run_summary(conn: psycopg.Connection, workflow_id: str, run_date: dt.date) -> dict[str, dict[str, int]]:
    """Ledger rows of one run date by step and status: what the data team sees after each run."""
    summary: dict[str, dict[str, int]] = {}
    for step_id, status, count in conn.execute(
        query("ledger/run_summary.sql"), {"workflow_id": workflow_id, "run_date": run_date}
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
            query("ledger/record_run.sql"),
            {
                "workflow_id": spec.id,
                "run_date": run_date,
                "run_id": run_id,
                "step_id": step.step_id,
                "dry_run": dry_run,
                "entered": entered,
                "planned": step.planned,
                "held_out": step.held_out,
                "suppressed": Jsonb(step.suppressed),
                "deferred": Jsonb(step.deferred),
                "sent": statuses.get("sent", 0),
                "failed": statuses.get("failed", 0),
                "unknown": statuses.get("unknown", 0),
            },
        )
