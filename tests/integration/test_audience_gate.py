"""The Great Expectations audience gate between planning and sending: a bad audience is blocked,
its rows are suppressed with the reason, and the provider receives nothing."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from loyalty import operations
from loyalty.paths import WORKFLOWS_DIR
from loyalty.quality.checks import AudienceCheckFailed
from loyalty_dev.services import Service

from .conftest import RUN_DATE

pytestmark = pytest.mark.integration
SPEC = WORKFLOWS_DIR / "win_back.yml"


@pytest.fixture
def consenting(audience: str) -> str:
    """The stand-in audience's customers exist in raw.customers with email consent."""
    with psycopg.connect(audience) as conn:
        conn.execute(
            """insert into raw.customers (customer_id, email, first_name, locale, signup_at, email_consent)
               select customer_id, email, first_name, locale, '2025-01-01', true from marts.eligible_win_back"""
        )
    return audience


def test_invalid_addresses_block_the_send(consenting: str, emulator: Service) -> None:
    """Planned rows with malformed email addresses fail the gate: nothing is batched or sent."""
    audience = consenting
    with psycopg.connect(audience) as conn:
        conn.execute("update marts.eligible_win_back set email = 'not-an-address-' || customer_id")
    planned = operations.plan_run(SPEC, audience, RUN_DATE, "gate-test", dry_run=False)
    assert sum(step["planned"] for step in planned["steps"]) > 0
    with pytest.raises(AudienceCheckFailed, match="recipient"):
        operations.check_audience(SPEC, audience, RUN_DATE)
    with psycopg.connect(audience) as conn:
        statuses = dict(
            conn.execute(
                "select status, count(*) from loyalty.send_ledger where workflow_id = 'win_back' group by status"
            ).fetchall()
        )
        reasons = conn.execute(
            "select distinct status_reason from loyalty.send_ledger where status = 'suppressed'"
        ).fetchall()
    assert "pending" not in statuses and statuses["suppressed"] > 0
    assert all(reason.startswith("audience_check_failed") for (reason,) in reasons)
    assert operations.batches(SPEC, audience, RUN_DATE) == {"email": []}
    assert httpx.get(f"{emulator.url}/_emulator/stats", timeout=10).json()["messages"] == 0


def test_a_good_audience_passes(consenting: str) -> None:
    """The same workflow with valid, consented addresses passes and stays pending for sending."""
    audience = consenting
    operations.plan_run(SPEC, audience, RUN_DATE, "gate-test", dry_run=False)
    verdict = operations.check_audience(SPEC, audience, RUN_DATE)
    assert verdict["passed"] is True and verdict["audience_size"] > 0
