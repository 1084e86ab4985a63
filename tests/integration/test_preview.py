"""`loyalty preview` shows the channel the plan would use: the contact-permission rule on the audience row and on the
suppression list as it is now, not consent and address alone."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

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

    def test_the_preferred_channel_is_previewed_as_the_plan_chooses_it(self, audience: str, tmp_path: Path) -> None:
        """win_back routed [preferred, email, sms]: a customer who prefers SMS (and may get it) is previewed on
        SMS with its segment count; without SMS consent, on email."""
        spec = yaml.safe_load(WIN_BACK.read_text())
        spec["steps"][0]["channel"] = ["preferred", "email", "sms"]
        for variant in spec["experiment"]["variants"]:
            for template in variant["templates"]["email_1"].values():
                template["text"] = "Olá {{ first_name }}, você tem pontos!"  # á, ê: not GSM-7
        path = tmp_path / "win_back.yml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True))
        with psycopg.connect(audience) as conn:
            conn.execute(
                "alter table marts.eligible_win_back add column phone text, add column sms_consent boolean, "
                "add column preferred_channel text"
            )
            conn.execute(
                "update marts.eligible_win_back set phone = '+1555' || lpad(customer_id::text, 7, '0'), "
                "sms_consent = customer_id % 3 <> 0, preferred_channel = 'sms'"
            )
            customers = [c for c in range(1, 200) if preview(conn, path, c, RUN_DATE).arm not in (None, "holdout")]
            texted = next(c for c in customers if c % 3 != 0)
            not_consented = next(c for c in customers if c % 3 == 0)
            (sms,) = preview(conn, path, texted, RUN_DATE).messages
            (email,) = preview(conn, path, not_consented, RUN_DATE).messages
        assert (sms["channel"], sms["sms_size"]) == ("sms", "1 segment (UCS-2, 25 characters)")
        assert email["channel"] == "email" and "sms_size" not in email

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
