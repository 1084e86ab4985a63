"""`loyalty preview` shows the channel the plan would use: the contact-permission rule on the audience row and on the
suppression list as it is now, not consent and address alone."""

from __future__ import annotations

import psycopg
import pytest

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs.preview import contactable_channels, preview

from .conftest import RUN_DATE

pytestmark = pytest.mark.integration

WIN_BACK = WORKFLOWS_DIR / "win_back.yml"


def _treated_customer(conn: psycopg.Connection) -> int:
    """A customer of the stand-in audience whom the experiment does not hold out."""
    return next(c for c in range(1, 200) if preview(conn, WIN_BACK, c, RUN_DATE).arm not in (None, "holdout"))


class TestPreviewChannel:
    def test_a_suppressed_address_is_not_previewed_as_sent(self, audience: str) -> None:
        """The customer's email is shown as the channel until their address is on the suppression list; then
        preview says nothing would be sent, as the plan would suppress the row."""
        with psycopg.connect(audience) as conn:
            customer = _treated_customer(conn)
            before = preview(conn, WIN_BACK, customer, RUN_DATE)
            assert {message["channel"] for message in before.messages} == {"email"}

            conn.execute(
                """insert into loyalty.contactability (channel, address, customer_id, is_contactable, reason,
                                                       source_event_id, changed_at)
                   values ('email', %s, %s, false, 'email_unsubscribe', 'test-unsubscribe', now())""",
                [f"customer{customer}@example.com", customer],
            )
            after = preview(conn, WIN_BACK, customer, RUN_DATE)
            conn.rollback()
        assert after.arm == before.arm
        assert {message["channel"] for message in after.messages} == {"suppressed: no channel we may contact"}

    @pytest.mark.parametrize(
        ("row", "expected"),
        [
            ({"email": "a@example.com", "email_consent": True}, {"email": True, "sms": False, "push": False}),
            ({"email": "a@example.com", "email_consent": False}, {"email": False, "sms": False, "push": False}),
            ({"email": None, "email_consent": True}, {"email": False, "sms": False, "push": False}),
            ({"phone": "+5511999990000", "sms_consent": True}, {"email": False, "sms": True, "push": False}),
            ({"push_token": "tok-1", "push_consent": True}, {"email": False, "sms": False, "push": True}),
        ],
        ids=["consented", "no-consent", "no-address", "sms", "push"],
    )
    def test_the_rule_per_channel(self, clean_warehouse: str, row: dict, expected: dict) -> None:
        """Consent and an address, per channel (nobody suppressed)."""
        with psycopg.connect(clean_warehouse) as conn:
            assert contactable_channels(conn, row) == expected
