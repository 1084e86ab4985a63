"""The channel fallback follows a dead address, never an opt-out: the reasons the ledger treats as a dead
address are exactly those the channels and the webhook receiver write for one."""

from __future__ import annotations

from loyalty.channels.fcm_push import DEAD_TOKEN
from loyalty.channels.twilio_sms import DEAD_NUMBER
from loyalty.ledger import DEAD_ADDRESS_REASONS
from loyalty.webhooks.consent import PERMANENT_SMS_ERRORS

OPT_OUTS = {"sms_opted_out"}  # Twilio 21610: the recipient said STOP


def test_every_dead_address_reason_falls_back_and_no_opt_out_does() -> None:
    written = {*DEAD_TOKEN.values(), *DEAD_NUMBER.values(), *PERMANENT_SMS_ERRORS.values()}
    written |= {"email_bounce", "email_invalid_address"}  # the receiver's hard bounce; SendGrid's refusal
    assert set(DEAD_ADDRESS_REASONS) == written - OPT_OUTS
    assert not OPT_OUTS & set(DEAD_ADDRESS_REASONS)
    assert not {reason for reason in DEAD_ADDRESS_REASONS if "unsubscribe" in reason or "keyword" in reason}
