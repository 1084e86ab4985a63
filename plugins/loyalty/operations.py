"""What a workflow DAG's tasks do, as plain functions: plan, batch, send, summarize.

The DAG factory resolves Airflow connections and calls these; tests and the CLI call them
directly. Nothing here imports Airflow.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NotRequired, TypedDict

import psycopg

from loyalty import ledger
from loyalty.channels.rewards import RewardGranter
from loyalty.specs import WorkflowSpec, load_spec
from loyalty.specs.templates import render_message
from loyalty.warehouse import connect

log = logging.getLogger(__name__)
DRY_RUN_SAMPLES = 3


SenderFor = Callable[[str], "ledger.Sender | None"]


class DryRunSample(TypedDict):
    """One message a dry run rendered (the task log shows a few per step)."""

    customer_id: int
    channel: str
    subject: str
    body: str


class PlanResult(TypedDict):
    """What the plan task returns; it crosses XCom to the gate, the batch tasks and summarize."""

    dry_run: bool
    entered: int
    reconciled: dict[str, int]  # ledger.Reconciled.as_dict()
    reconciled_unknown: int
    steps: list[ledger.StepCounts]
    samples: dict[str, list[DryRunSample]]  # by step id; empty unless a dry run


class AudienceVerdict(TypedDict):
    """What the audience gate returns when it lets the run through (a failure raises)."""

    passed: bool
    audience_size: NotRequired[int]
    dry_run: NotRequired[bool]  # a dry run sends nothing, so nothing is checked


def plan_run(
    spec_path: Path,
    url: str,
    run_date: dt.date,
    run_id: str,
    dry_run: bool,
    sender_for: SenderFor | None = None,
    grace_seconds: float = ledger.RECONCILE_GRACE_S,
) -> PlanResult:
    """Reconcile rows an interrupted run left in `sending` (against the provider's lookup when
    `sender_for` gives the channel's client), then enter and plan every step; on a dry run,
    reconcile nothing, render every planned message and roll back."""
    spec = load_spec(spec_path)
    resolve = sender_for or (lambda channel: None)
    with connect(url) as conn:
        reconciled = ledger.Reconciled()
        if not dry_run:
            reconciled = ledger.reconcile_stuck(conn, spec.id, resolve, grace_seconds)
            if reconciled.sent or reconciled.requeued or reconciled.unknown:
                log.warning("rows left in 'sending' by an interrupted run, reconciled: %s", reconciled.as_dict())
        entered, steps = ledger.plan(conn, spec, run_date)
        samples = _render_planned(conn, spec, run_date) if dry_run else {}
        if dry_run:
            conn.rollback()  # nothing of a dry run stays in the ledger
        ledger.record_run(conn, spec, run_date, run_id, dry_run, entered, steps)
    for step in steps:
        log.info(
            "%s: planned %d (%s), held out %d, suppressed %s",
            step.step_id,
            step.planned,
            step.channels,
            step.held_out,
            step.suppressed or "nothing",
        )
        for sample in samples.get(step.step_id, []):
            log.info("  dry-run sample for customer %s: %s", sample["customer_id"], sample["subject"])
    return {
        "dry_run": dry_run,
        "entered": entered,
        "reconciled": reconciled.as_dict(),
        "reconciled_unknown": reconciled.unknown,
        "steps": [step.as_dict() for step in steps],
        "samples": samples,
    }


def _render_planned(conn: psycopg.Connection, spec: WorkflowSpec, run_date: dt.date) -> dict[str, list[DryRunSample]]:
    """Render every message planned for today (a template error fails the dry run); keep a few."""
    samples: dict[str, list[DryRunSample]] = {}
    rows = ledger.planned_messages(conn, spec.id, run_date)
    for step_id, channel, variant, customer_id, context in rows:
        subject, body = render_message(spec, variant, step_id, channel, context)
        kept = samples.setdefault(step_id, [])
        if len(kept) < DRY_RUN_SAMPLES:
            kept.append({"customer_id": customer_id, "channel": channel, "subject": subject, "body": body})
    return samples


def check_audience(spec_path: Path, url: str, run_date: dt.date) -> AudienceVerdict:
    """The Great Expectations gate between planning and sending.

    On failure the run's pending rows become `suppressed` (reason `audience_check_failed`), so no
    later batch sends an audience that failed its checks, and AudienceCheckFailed says why.
    """
    from loyalty.quality import check_audience as gx_check_audience
    from loyalty.quality.checks import AudienceCheckFailed

    spec = load_spec(spec_path)
    verdict = gx_check_audience(url, spec, run_date)
    if verdict.passed:
        log.info("audience check passed for %s on %s (%d messages)", spec.id, run_date, verdict.audience_size)
        return {"passed": True, "audience_size": verdict.audience_size}
    reason = "audience_check_failed: " + "; ".join(verdict.reasons)
    with connect(url) as conn:
        blocked = ledger.suppress_pending(conn, spec.id, run_date, reason[:500])
    log.error("audience check failed for %s on %s; %d messages blocked: %s", spec.id, run_date, blocked, reason)
    raise AudienceCheckFailed(reason)


def batches(spec_path: Path, url: str, run_date: dt.date) -> dict[str, list[str]]:
    spec = load_spec(spec_path)
    with connect(url) as conn:
        found = ledger.assign_batches(conn, spec, run_date)
    log.info("batches by channel: %s", {channel: len(ids) for channel, ids in found.items()})
    return found


def senders_for(spec: WorkflowSpec, **channels: ledger.Sender | None) -> dict[str, ledger.Sender]:
    """The reward granter plus every configured channel client (email=, sms=, push=)."""
    senders: dict[str, ledger.Sender] = {"reward": RewardGranter(spec)}
    senders.update({channel: sender for channel, sender in channels.items() if sender is not None})
    return senders


def send(
    spec_path: Path,
    url: str,
    batch_id: str,
    grace_seconds: float = ledger.RECONCILE_GRACE_S,
    now: dt.datetime | None = None,
    **channels: ledger.Sender | None,
) -> dict[str, int]:
    """Send one batch with the channel clients given (email=, sms=, push=); see ledger.send_batch. `now`: the
    moment quiet hours are judged at (default: the clock; a simulation passes its own)."""
    spec = load_spec(spec_path)
    senders = senders_for(spec, **channels)
    try:
        result = ledger.send_batch(partial(connect, url), spec, batch_id, senders, now=now, grace_seconds=grace_seconds)
    finally:
        for sender in senders.values():
            sender.close()
    log.info("batch %s: %s", batch_id, result)
    return result


def summarize(
    spec_path: Path, url: str, run_date: dt.date, run_id: str, planned: PlanResult
) -> dict[str, dict[str, int]]:
    """Record the run's final per-step counts; returns them by step and status."""
    spec = load_spec(spec_path)
    steps = [ledger.StepSummary(**step) for step in planned["steps"]]
    with connect(url) as conn:
        ledger.record_run(conn, spec, run_date, run_id, planned["dry_run"], planned["entered"], steps)
        summary = ledger.run_summary(conn, spec.id, run_date)
    log.info("run summary for %s on %s: %s", spec.id, run_date, summary)
    return summary
