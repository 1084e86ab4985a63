"""The send ledger on a real Postgres: planning is idempotent, assignment matches its definition,
and sending through the real SendGrid client never sends a row twice."""

from __future__ import annotations

from functools import partial

import httpx
import psycopg
import pytest

from loyalty import ledger
from loyalty.assignment import assign, global_holdout
from loyalty.channels.base import Outcome
from loyalty.channels.sendgrid_email import SendGridEmail
from loyalty.specs import WorkflowSpec
from loyalty.sql_files import read_sql
from loyalty.warehouse import connect, init_schema
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE as UNSUBSCRIBE
from loyalty_dev.services import Service

from .conftest import API_KEY, RUN_DATE

pytestmark = pytest.mark.integration


def _ledger_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select customer_id, variant, status from loyalty.send_ledger order by customer_id"
        ).fetchall()


class TestPlanning:
    def test_rerun_inserts_nothing(self, audience: str, spec: WorkflowSpec) -> None:
        """Planning the same run date twice leaves exactly one row per customer and cycle."""
        with psycopg.connect(audience) as conn:
            entered_first, (first,) = ledger.plan(conn, spec, RUN_DATE)
            entered_again, (again,) = ledger.plan(conn, spec, RUN_DATE)
        assert entered_first == 2500 and entered_again == 0
        assert first.planned + first.held_out == 2500
        assert (again.planned, again.held_out) == (first.planned, first.held_out)
        assert len(_ledger_rows(audience)) == 2500

    def test_sql_assignment_matches_python_definition(self, audience: str, spec: WorkflowSpec) -> None:
        """The set-based SQL and loyalty.assignment give every customer the same arm (the global
        holdout included)."""
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
        ids, cumulative = spec.variant_weights()
        experiment = spec.experiment
        for customer_id, variant, status in _ledger_rows(audience):
            expected = assign(
                customer_id, spec.id, experiment.salt, experiment.holdout_pct, ids, cumulative, global_holdout()
            )
            assert variant == expected
            assert status == ("holdout" if expected == "holdout" else "pending")

    def test_holdout_share(self, audience: str, spec: WorkflowSpec) -> None:
        """About holdout_pct of the audience is held out (20% of 2,500, within sampling error)."""
        with psycopg.connect(audience) as conn:
            _, (summary,) = ledger.plan(conn, spec, RUN_DATE)
        assert abs(summary.held_out / 2500 - spec.experiment.holdout_pct) < 0.03

    def test_audience_row_is_stored_once_and_claimed_from_the_entry(self, audience: str, spec: WorkflowSpec) -> None:
        """The audience row (context) is written once, at journey entry; ledger rows do not copy it,
        and claiming a batch returns each row's context from its entry (what the message renders)."""
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
            batch = ledger.assign_batches(conn, spec, RUN_DATE)["email"][0]
            copied = conn.execute("select count(*) from loyalty.send_ledger where context is not null").fetchone()
            entries = dict(
                conn.execute(
                    "select customer_id, context from loyalty.journey_entries where workflow_id = %s", [spec.id]
                ).fetchall()
            )
            claimed = conn.execute(read_sql("ledger/claim_batch.sql"), {"batch_id": batch, "now": None}).fetchall()
            conn.rollback()
        assert copied == (0,)
        assert claimed and all(context == entries[customer_id] for _, customer_id, *_, context in claimed)

    def test_outcomes_are_recorded_in_one_statement_once(self, audience: str, spec: WorkflowSpec) -> None:
        """record_outcomes writes each claimed row's status, provider id, reason and response (JSON
        nulls stay SQL nulls); a second record of the same rows changes nothing."""
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
            batch = ledger.assign_batches(conn, spec, RUN_DATE)["email"][0]
            (first, *_), (second, *_) = conn.execute(
                read_sql("ledger/claim_batch.sql"), {"batch_id": batch, "now": None}
            ).fetchall()[:2]
            outcomes = [
                Outcome(first, "sent", "x.recvd-0", None, {"status_code": 202, "x_message_id": "x"}),
                Outcome(second, "pending", None, "retries exhausted: HTTP 429", None),
            ]
            ledger.record_outcomes(conn, outcomes)
            ledger.record_outcomes(conn, [Outcome(first, "failed", None, "late", None)])
            rows = conn.execute(
                """select send_id, status, provider_message_id, status_reason, provider_response, sent_at is not null
                   from loyalty.send_ledger where send_id = any(%s) order by send_id = %s desc""",
                [[first, second], first],
            ).fetchall()
            conn.rollback()
        assert rows == [
            (first, "sent", "x.recvd-0", None, {"status_code": 202, "x_message_id": "x"}, True),
            (second, "pending", None, "retries exhausted: HTTP 429", None, False),
        ]

    def test_existing_warehouse_converges_to_the_ledger_indexes(self, clean_warehouse: str) -> None:
        """Upgrading a warehouse built before the index and constraint changes (no deferral, no channel fallback)
        and before migrations (no version table) drops the indexes no query needs, adds the partial one, widens
        the status check to `deferred` and the one-row-per-cycle key to the channel attempt, and keeps the rows it
        holds (tests/integration/test_migrations.py compares whole schemas)."""
        with psycopg.connect(clean_warehouse) as conn:
            conn.execute("create index journey_entries_entered on loyalty.journey_entries (workflow_id, entered_on)")
            conn.execute("create index send_ledger_workflow_status on loyalty.send_ledger (workflow_id, status)")
            conn.execute(
                """alter table loyalty.send_ledger drop constraint send_ledger_one_per_cycle;
                   alter table loyalty.send_ledger add constraint send_ledger_one_per_cycle
                       unique (workflow_id, step_id, customer_id, cycle_key);
                   alter table loyalty.send_ledger drop constraint send_ledger_status;
                   alter table loyalty.send_ledger add constraint send_ledger_status check (
                       status in ('holdout', 'pending', 'sending', 'sent', 'failed', 'suppressed', 'unknown'));
                   create index send_ledger_workflow_open on loyalty.send_ledger (workflow_id, status)
                       where status in ('pending', 'sending');
                   insert into loyalty.send_ledger (send_id, workflow_id, step_id, customer_id, cycle_key, run_date,
                       variant, is_holdout, channel, status)
                   values ('old-1', 'w', 's', 1, 'k', '2026-06-01', 'a', false, 'email', 'sent');
                   drop table loyalty.alembic_version"""
            )
            conn.commit()
        assert init_schema(clean_warehouse) == ["0001", "0002", "0003", "0004"]
        with psycopg.connect(clean_warehouse) as conn:
            constraints = dict(
                conn.execute(
                    """select conname, pg_get_constraintdef(oid) from pg_constraint
                       where conname in ('send_ledger_one_per_cycle', 'send_ledger_status')"""
                ).fetchall()
            )
            kept = conn.execute("select send_id, channel_attempt from loyalty.send_ledger").fetchall()
        assert "channel_attempt" in constraints["send_ledger_one_per_cycle"]
        assert "'deferred'" in constraints["send_ledger_status"]
        assert kept == [("old-1", 1)]
        with psycopg.connect(clean_warehouse) as conn:
            indexes = {
                name: definition
                for name, definition in conn.execute(
                    """select indexname, indexdef from pg_indexes
                       where schemaname = 'loyalty' and tablename in ('send_ledger', 'journey_entries')"""
                ).fetchall()
            }
        assert "journey_entries_entered" not in indexes and "send_ledger_workflow_status" not in indexes
        assert "send_ledger_workflow_open" not in indexes
        open_rows = "WHERE (status = ANY (ARRAY['pending'::text, 'deferred'::text, 'sending'::text]))"
        assert open_rows in indexes["send_ledger_workflow_waiting"]
        assert "UNIQUE" in indexes["send_ledger_one_per_cycle"]

    def test_recipient_is_the_routed_channels_address(self, audience: str, spec: WorkflowSpec) -> None:
        """Each planned row carries the address of the channel it was routed to, from the entry."""
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
            rows = conn.execute(
                """select ledger.channel, ledger.recipient, entry.context
                   from loyalty.send_ledger as ledger
                   inner join loyalty.journey_entries as entry using (workflow_id, customer_id, cycle_key)
                   where ledger.status = 'pending'"""
            ).fetchall()
        field_of = {"email": "email", "sms": "phone", "push": "push_token"}
        assert rows and all(recipient == context[field_of[channel]] for channel, recipient, context in rows)


class TestSending:
    def _send_all(self, url: str, spec: WorkflowSpec, emulator: Service) -> list[dict]:
        sender = SendGridEmail(API_KEY, "loyalty@example.com", host=emulator.url, unsubscribe=UNSUBSCRIBE)
        with psycopg.connect(url) as conn:
            batches = ledger.assign_batches(conn, spec, RUN_DATE)
        assert set(batches) == {"email"}
        return [ledger.send_batch(partial(connect, url), spec, batch, {"email": sender}) for batch in batches["email"]]

    def test_each_customer_gets_exactly_one_email(self, audience: str, spec: WorkflowSpec, emulator: Service) -> None:
        """Plan + send, then plan + send again: the emulator holds one message per treated customer."""
        with psycopg.connect(audience) as conn:
            _, (summary,) = ledger.plan(conn, spec, RUN_DATE)
        results = self._send_all(audience, spec, emulator)
        assert all(len(r) for r in results)
        assert len(results) == -(-summary.planned // spec.batch_size)  # batches of at most 1000
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
        assert self._send_all(audience, spec, emulator) == []

        messages = httpx.get(f"{emulator.url}/_emulator/messages", timeout=30).json()
        recipients = [m["to"] for m in messages]
        assert len(recipients) == len(set(recipients)) == summary.planned
        rows = _ledger_rows(audience)
        treated = {f"customer{c}@example.com" for c, variant, status in rows if variant != "holdout"}
        assert set(recipients) == treated
        assert {status for _, variant, status in rows if variant != "holdout"} == {"sent"}

    def test_send_id_travels_in_custom_args(self, audience: str, spec: WorkflowSpec, emulator: Service) -> None:
        """Each personalization carries its ledger send_id, so webhooks can be joined back."""
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
        self._send_all(audience, spec, emulator)
        messages = httpx.get(f"{emulator.url}/_emulator/messages", timeout=30).json()
        with psycopg.connect(audience) as conn:
            send_ids = {
                row[0]
                for row in conn.execute("select send_id from loyalty.send_ledger where status = 'sent'").fetchall()
            }
        assert {m["custom_args"]["send_id"] for m in messages} == send_ids

    def test_rendered_in_the_customers_locale(self, audience: str, spec: WorkflowSpec, emulator: Service) -> None:
        """pt-BR customers get the Portuguese subject; others the English one."""
        with psycopg.connect(audience) as conn:
            ledger.plan(conn, spec, RUN_DATE)
        self._send_all(audience, spec, emulator)
        messages = httpx.get(f"{emulator.url}/_emulator/messages", timeout=30).json()
        for message in messages:
            customer_id = int(message["to"].removeprefix("customer").split("@")[0])
            portuguese = any(word in message["subject"] for word in ("sentimos", "desconto"))
            assert portuguese == (customer_id % 2 == 0), message["subject"]
