"""The emulator and the receiver over real HTTP: 10,000 messages over three channels with
duplicate and out-of-order webhooks switched on; the warehouse ends with exactly one event per
provider event id, the right final state per message, and consent updated from replies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid import SendGridAPIClient

from loyalty_dev.emulator import EmailRates, EmulatorConfig, SmsRates, running
from loyalty_dev.emulator.config import public_key_b64
from loyalty_dev.services import Service, start_service

from ._webhooks_support import add_sends, query, wipe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "e2e-twilio-token"
PUSH_SECRET = "e2e-push-secret"
N_EMAIL, N_SMS, N_PUSH = 7000, 1500, 1500


SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def receiver(clean_warehouse: str) -> Iterator[Service]:
    """The real receiver, `loyalty webhooks`, as a child process (its own interpreter, as in
    production), verifying with the secrets the emulator below is configured with."""
    wipe(clean_warehouse)
    env = {
        "LOYALTY_WAREHOUSE_URL": clean_warehouse,
        "LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY": public_key_b64(SIGNING_KEY),
        "LOYALTY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "LOYALTY_PUSH_WEBHOOK_SECRET": PUSH_SECRET,
    }
    service = start_service("webhooks", ["loyalty.cli", "webhooks", "--port", "0"], env=env)
    yield service
    service.stop()


def _send_sms(emu_url: str, receiver: str, n: int) -> None:
    auth = (TWILIO_SID, TWILIO_TOKEN)
    path = f"{emu_url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"

    def send(chunk: range) -> None:
        with httpx.Client(auth=auth, timeout=30) as client:
            for i in chunk:
                form = {
                    "To": f"+55119{i:08d}",
                    "From": "+15005550006",
                    "Body": "Your points expire soon",
                    "StatusCallback": f"{receiver}/webhooks/twilio/status?send_id=sms-{i}",
                }
                response = client.post(path, data=form)
                assert response.status_code == 201, response.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [range(k, n, 4) for k in range(4)]))


def _send_push(emu_url: str, n: int) -> None:
    path = f"{emu_url}/v1/projects/shop/messages:send"

    def send(chunk: range) -> None:
        with httpx.Client(headers={"Authorization": "Bearer t"}, timeout=30) as client:
            for i in chunk:
                message = {"token": f"device-{i}", "notification": {"title": "Hi"}, "data": {"send_id": f"push-{i}"}}
                response = client.post(path, json={"message": message})
                assert response.status_code in (200, 404), response.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [range(k, n, 4) for k in range(4)]))


def _expected_event_ids(emu_url: str) -> set[str]:
    events = httpx.get(f"{emu_url}/_emulator/events", timeout=60).json()
    ids = set()
    for event in events:
        if "sg_event_id" in event:
            ids.add(event["sg_event_id"])
        elif "params" in event:
            params = event["params"]
            ids.add(f"{params['MessageSid']}:{params.get('MessageStatus', 'received')}")
        else:
            ids.add(event["event_id"])
    return ids


FINAL_STATE = """
select send_id,
       case
           when bool_or(event_type = 'bounce') then 'bounced'
           when bool_or(event_type = 'failed') then 'failed'
           when bool_or(event_type = 'undelivered') then 'undelivered'
           when bool_or(event_type = 'open') and bool_or(provider = 'push') then 'opened'
           when bool_or(event_type = 'delivered') then 'delivered'
           else 'sent'
       end
from raw.message_events
where send_id is not null
group by send_id
"""


def test_ten_thousand_messages_with_duplicate_and_out_of_order_webhooks(
    receiver: Service, clean_warehouse: str
) -> None:
    """Every webhook the emulator generated is stored exactly once (by provider event id) although
    a third were posted twice and events were shuffled; each send's final state, ranked by status
    precedence rather than arrival order, is the emulator's fate; replies and unsubscribes are
    in loyalty.contactability."""
    url, warehouse = receiver.url, clean_warehouse
    add_sends(
        warehouse,
        [(f"email-{i}", "email", f"user{i}@example.com") for i in range(N_EMAIL)]
        + [(f"sms-{i}", "sms", f"+55119{i:08d}") for i in range(N_SMS)]
        + [(f"push-{i}", "push", f"device-{i}") for i in range(N_PUSH)],
    )
    config = EmulatorConfig(
        seed=2026,
        webhook_url=f"{url}/webhooks/sendgrid",
        sms_inbound_url=f"{url}/webhooks/twilio/inbound",
        push_receipt_url=f"{url}/webhooks/push",
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        push_webhook_secret=PUSH_SECRET,
        private_key=SIGNING_KEY,
        email=EmailRates(unsubscribe_rate=0.01, spam_rate=0.005),
        sms=SmsRates(delivery_rate=0.9, unsubscribe_rate=0.02),
        webhook_duplicate_rate=0.3,
        webhook_out_of_order=True,
        webhook_backoff_s=0.05,
    )
    with running(config) as emu:
        client = SendGridAPIClient(api_key="k", host=emu.url)
        for start in range(0, N_EMAIL, 1000):  # 7 requests of 1000 personalizations
            body = {
                "personalizations": [
                    {"to": [{"email": f"user{i}@example.com"}], "custom_args": {"send_id": f"email-{i}"}}
                    for i in range(start, start + 1000)
                ],
                "from": {"email": "loyalty@shop.example.com"},
                "subject": "Your points",
                "content": [{"type": "text/plain", "value": "Hello"}],
            }
            assert client.client.mail.send.post(request_body=body).status_code == 202
        _send_sms(emu.url, url, N_SMS)
        _send_push(emu.url, N_PUSH)
        response = httpx.post(f"{emu.url}/_emulator/flush", json={"timeout": 120}, timeout=130)
        stats = response.json()
        assert response.status_code == 200, stats
        expected_ids = _expected_event_ids(emu.url)
        messages = httpx.get(f"{emu.url}/_emulator/messages", timeout=60).json()

    assert stats["webhook_duplicate_posts"] > 100 and stats["events_dead_lettered"] == 0
    assert stats["webhook_posts_failed"] == 0
    stored = query(warehouse, "select event_id, send_id from raw.message_events")
    assert len(stored) == len(expected_ids) == stats["events_generated"]
    assert {row[0] for row in stored} == expected_ids
    inbound = [r for r in stored if r[0].endswith(":received")]
    assert all(r[1] is None for r in inbound) and all(r[1] is not None for r in stored if r not in inbound)

    # Out of order really happened: some SMS had its final status stored before "queued".
    inverted = query(
        warehouse,
        """select count(*) from raw.message_events final_event
           join raw.message_events queued on queued.provider_message_id = final_event.provider_message_id
           where queued.event_type = 'queued' and final_event.event_type in ('delivered', 'undelivered', 'failed')
             and final_event.received_at < queued.received_at""",
    )[0][0]
    assert inverted > 0

    final = dict(query(warehouse, FINAL_STATE))
    expected_final = {}
    for m in messages:
        if m["channel"] == "push":
            expected_final[m["send_id"]] = "opened" if m["opened"] else "delivered" if m["delivered"] else None
        else:
            expected_final[m["send_id"]] = m["fate"]
    assert len(messages) == N_EMAIL + N_SMS + sum(1 for m in messages if m["channel"] == "push")
    assert {k: v for k, v in expected_final.items() if v is not None} == final

    stops = {m["to"] for m in messages if m.get("replied_stop")}
    unsubscribed = {m["to"] for m in messages if m.get("unsubscribed") or m.get("spam_reported")}
    bounced = {m["to"] for m in messages if m["channel"] == "email" and m["fate"] == "bounced"}
    state = {
        (r[0], r[1]): r[2]
        for r in query(warehouse, "select channel, address, is_contactable from loyalty.contactability")
    }
    assert stops and unsubscribed
    assert {a for (c, a), ok in state.items() if c == "sms" and not ok} >= stops
    assert {a for (c, a), ok in state.items() if c == "email" and not ok} == unsubscribed | bounced


def test_webhooks_command_serves_with_workers(clean_warehouse: str) -> None:
    """`loyalty webhooks --workers 2` serves the health endpoint from uvicorn worker processes,
    and refuses to start without any webhook secret."""
    env = {**os.environ, "LOYALTY_WAREHOUSE_URL": clean_warehouse, "LOYALTY_TWILIO_AUTH_TOKEN": "t"}
    for name in ("LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY", "LOYALTY_PUSH_WEBHOOK_SECRET", "LOYALTY_UNSUBSCRIBE_SECRET"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "loyalty.cli", "webhooks", "--port", "0", "--workers", "2"]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("WEBHOOKS_URL="), line
            base = line.split("=", 1)[1]
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"{base}/health", timeout=2)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "workers did not start"
                    time.sleep(0.1)
            assert health.json() == {"status": "ok", "providers": ["twilio"]}
            assert httpx.get(f"{base}/health/ready", timeout=10).json() == {"status": "ok"}
        finally:
            proc.terminate()
            proc.wait(20)
    del env["LOYALTY_TWILIO_AUTH_TOKEN"]
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "no webhook secret" in refused.stdout
