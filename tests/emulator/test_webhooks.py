"""Signed Event Webhook delivery: shape, signature, batching, retries, determinism, clock."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from ._helpers import flush, mail_body, sg_client

SIG = "X-Twilio-Email-Event-Webhook-Signature"
TS = "X-Twilio-Email-Event-Webhook-Timestamp"


def _public_key(emu) -> str:
    r = httpx.get(f"{emu.url}/v3/user/webhooks/event/settings/signed")
    assert r.status_code == 200
    return r.json()["public_key"]


def test_signature_verifies_with_sendgrid_helper_and_tamper_fails(emulator_factory, receiver) -> None:
    """Every posted batch verifies with sendgrid's own EventWebhook helper using the key from
    GET /v3/user/webhooks/event/settings/signed; changing one body byte (or the timestamp)
    makes verification fail."""
    emu = emulator_factory(webhook_url=receiver.url, seed=3)
    sg_client(emu).client.mail.send.post(request_body=mail_body(20))
    flush(emu)
    assert receiver.posts
    helper = EventWebhook()
    key = helper.convert_public_key_to_ecdsa(_public_key(emu))
    for headers, body in receiver.posts:
        assert helper.verify_signature(body.decode(), headers[SIG.lower()], headers[TS.lower()], key)
    headers, body = receiver.posts[0]
    tampered = bytearray(body)
    tampered[len(tampered) // 2] ^= 0x01
    assert not helper.verify_signature(bytes(tampered).decode(), headers[SIG.lower()], headers[TS.lower()], key)
    wrong_ts = str(int(headers[TS.lower()]) + 1)
    assert not helper.verify_signature(body.decode(), headers[SIG.lower()], wrong_ts, key)


def test_every_message_gets_processed_and_one_outcome(emulator_factory, receiver) -> None:
    """Each recipient gets exactly one processed and exactly one of delivered|bounce; opens only
    follow deliveries and clicks only follow opens; events carry SendGrid's fields with the
    custom args (send_id) at top level and unique sg_event_ids; stats add up."""
    emu = emulator_factory(webhook_url=receiver.url, seed=5, webhook_batch_size=100)
    body = mail_body(300, categories=["tier_nudge"], custom_args={"workflow": "wf"})
    sg_client(emu).client.mail.send.post(request_body=body)
    stats = flush(emu)
    events = receiver.events()
    assert stats["pending_events"] == 0
    assert stats["events_posted"] == stats["events_generated"] == len(events)
    assert all(len(json.loads(b)) <= 100 for _, b in receiver.posts)
    assert len({e["sg_event_id"] for e in events}) == len(events)

    by_send: dict[str, Counter] = {}
    for e in events:
        for key in (
            "email",
            "timestamp",
            "event",
            "sg_event_id",
            "sg_message_id",
            "category",
            "smtp-id",
        ):
            assert key in e, key
        assert isinstance(e["timestamp"], int)
        assert e["category"] == ["tier_nudge"] and e["workflow"] == "wf"
        by_send.setdefault(e["send_id"], Counter())[e["event"]] += 1
        if e["event"] == "bounce":
            assert e["type"] == "bounce" and e["status"] == "5.1.1" and e["reason"]
        if e["event"] == "click":
            assert e["url"].startswith("https://")
    assert len(by_send) == 300
    for c in by_send.values():
        assert c["processed"] == 1
        assert c["delivered"] + c["bounce"] == 1
        assert c["open"] <= c["delivered"] and c["click"] <= c["open"]

    # The introspection view agrees with what was posted.
    msgs = {m["send_id"]: m for m in httpx.get(f"{emu.url}/_emulator/messages").json()}
    for send_id, c in by_send.items():
        assert msgs[send_id]["fate"] == ("delivered" if c["delivered"] else "bounced")
        assert msgs[send_id]["opened"] == bool(c["open"])


def test_fates_identical_across_instances_with_same_seed(emulator_factory) -> None:
    """Fate is a pure function of (seed, recipient, send_id): two separate emulators with the
    same seed agree on every outcome even when batched differently; another seed differs."""
    fates = []
    for seed, batches in ((42, [200]), (42, [50, 150]), (7, [200])):
        emu = emulator_factory(seed=seed)
        body = mail_body(200)
        start = 0
        for size in batches:
            part = dict(body, personalizations=body["personalizations"][start : start + size])
            sg_client(emu).client.mail.send.post(request_body=part)
            start += size
        msgs = httpx.get(f"{emu.url}/_emulator/messages").json()
        fates.append({m["send_id"]: (m["fate"], m["opened"], m["clicked"]) for m in msgs})
    assert len(fates[0]) == 200
    assert fates[0] == fates[1]
    assert fates[0] != fates[2]


def test_rates_follow_config(emulator_factory) -> None:
    """Over 3000 recipients, delivered/opened/clicked fractions match the configured rates
    (conditional on the previous step) within a few standard errors."""
    emu = emulator_factory(seed=11)
    for k in range(3):
        sg_client(emu).client.mail.send.post(request_body=mail_body(1000, prefix=f"r{k}-"))
    msgs = httpx.get(f"{emu.url}/_emulator/messages").json()
    delivered = [m for m in msgs if m["delivered"]]
    opened = [m for m in delivered if m["opened"]]
    clicked = [m for m in opened if m["clicked"]]
    assert abs(len(delivered) / len(msgs) - 0.97) < 0.015
    assert abs(len(opened) / len(delivered) - 0.35) < 0.04
    assert abs(len(clicked) / len(opened) - 0.25) < 0.06


def test_receiver_failure_is_retried_and_nothing_lost(emulator_factory, receiver) -> None:
    """A receiver that answers 500 to its first two posts gets the same events again: all events
    arrive, failures are counted, and redelivered events keep their sg_event_id."""
    receiver.fail_first = 2
    emu = emulator_factory(webhook_url=receiver.url, seed=9, webhook_concurrency=1)
    sg_client(emu).client.mail.send.post(request_body=mail_body(50))
    stats = flush(emu)
    assert stats["webhook_posts_failed"] == 2
    assert stats["events_posted"] == stats["events_generated"]
    assert stats["events_dead_lettered"] == 0
    expected = httpx.get(f"{emu.url}/_emulator/events").json()
    assert sorted(e["sg_event_id"] for e in receiver.events()) == sorted(e["sg_event_id"] for e in expected)


def test_exhausted_retries_are_dead_lettered_and_redeliverable(emulator_factory, receiver) -> None:
    """When every attempt fails the batch is kept as a dead letter (counted, flush still
    returns), and /_emulator/webhooks/redeliver sends it once the receiver recovers."""
    receiver.fail_first = 3
    emu = emulator_factory(webhook_url=receiver.url, webhook_max_attempts=3, webhook_concurrency=1)
    sg_client(emu).client.mail.send.post(request_body=mail_body(5))
    stats = flush(emu)
    assert stats["events_dead_lettered"] == stats["events_generated"] > 0
    assert stats["webhook_posts_failed"] == 3 and receiver.posts == []
    assert httpx.post(f"{emu.url}/_emulator/webhooks/redeliver").json()["requeued_events"] > 0
    stats = flush(emu)
    assert stats["events_dead_lettered"] == 0
    assert len(receiver.events()) == stats["events_generated"]


def test_unreachable_receiver_counts_failures(emulator_factory) -> None:
    """A connection error is a failed post too (counted, retried), not a silent drop."""
    emu = emulator_factory(webhook_url="http://127.0.0.1:9/hook", webhook_max_attempts=2)
    sg_client(emu).client.mail.send.post(request_body=mail_body(1))
    stats = flush(emu)
    assert stats["webhook_posts_failed"] == 2
    assert stats["events_dead_lettered"] == stats["events_generated"]


def test_clock_sets_event_timestamps(emulator_factory, receiver) -> None:
    """POST /_emulator/clock moves simulated time: events are stamped on that day, in order
    processed <= delivered/bounce <= open <= click, and processed is the set time."""
    emu = emulator_factory(webhook_url=receiver.url, seed=2)
    r = httpx.post(
        f"{emu.url}/_emulator/clock",
        json={"now": "2026-06-01T09:00:00+00:00", "frozen": True},
    )
    assert r.json()["now"].startswith("2026-06-01T09:00:00")
    assert httpx.get(f"{emu.url}/_emulator/clock").json()["now"].startswith("2026-06-01T09:00:00")
    sg_client(emu).client.mail.send.post(request_body=mail_body(100))
    flush(emu)
    start = int(datetime(2026, 6, 1, 9, tzinfo=UTC).timestamp())
    day_end = int(datetime(2026, 6, 2, tzinfo=UTC).timestamp())
    order = {"processed": 0, "delivered": 1, "bounce": 1, "open": 2, "click": 3}
    per_msg: dict[str, list[tuple[int, int]]] = {}
    for e in receiver.events():
        assert start <= e["timestamp"] < day_end
        per_msg.setdefault(e["sg_message_id"], []).append((order[e["event"]], e["timestamp"]))
        if e["event"] == "processed":
            assert e["timestamp"] == start
    for seq in per_msg.values():
        times = [t for _, t in sorted(seq)]
        assert times == sorted(times)
    [m] = httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "user-0"}).json()
    assert m["sent_at"].startswith("2026-06-01T09:00:00")


def test_duplicate_delivery_keeps_event_ids(emulator_factory, receiver) -> None:
    """With webhook_duplicate_rate=1 every batch arrives twice (at-least-once), and the copies
    carry identical sg_event_ids so a receiver can deduplicate."""
    emu = emulator_factory(webhook_url=receiver.url, webhook_duplicate_rate=1.0)
    sg_client(emu).client.mail.send.post(request_body=mail_body(10))
    stats = flush(emu)
    ids = Counter(e["sg_event_id"] for e in receiver.events())
    assert stats["webhook_duplicate_posts"] >= 1
    assert set(ids.values()) == {2} and len(ids) == stats["events_generated"]


def test_slow_receiver_does_not_block_the_send(emulator_factory, receiver) -> None:
    """Webhooks are posted in the background: with a receiver taking 0.5 s per post, each
    Mail Send still answers 202 quickly, and the events arrive later."""
    receiver.delay_s = 0.5
    emu = emulator_factory(webhook_url=receiver.url, webhook_batch_size=10)
    client = sg_client(emu)
    for k in range(3):
        started = time.perf_counter()
        assert client.client.mail.send.post(request_body=mail_body(20, prefix=f"slow{k}-")).status_code == 202
        assert time.perf_counter() - started < 0.3
    stats = flush(emu)
    assert stats["events_posted"] == stats["events_generated"] == len(receiver.events())


def test_private_key_loaded_from_pem(tmp_path, emulator_factory, receiver) -> None:
    """A PEM key given by path is the one that signs: the published public key is its public
    half and posts verify against it, so a receiver can be configured before the emulator."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "webhook.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    expected = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    emu = emulator_factory(webhook_url=receiver.url, private_key_path=str(pem))
    assert _public_key(emu) == expected
    sg_client(emu).client.mail.send.post(request_body=mail_body(2))
    flush(emu)
    helper = EventWebhook(expected)
    headers, body = receiver.posts[0]
    assert helper.verify_signature(body.decode(), headers[SIG.lower()], headers[TS.lower()])


def test_clock_advance_and_back_to_real_time(emulator_factory) -> None:
    """advance_seconds moves a frozen clock exactly; {"now": null} returns to real UTC time."""
    emu = emulator_factory()
    url = f"{emu.url}/_emulator/clock"
    httpx.post(url, json={"now": "2026-06-01T09:00:00Z", "frozen": True})
    assert httpx.post(url, json={"advance_seconds": 3600}).json()["now"].startswith("2026-06-01T10:00:00")
    real = httpx.post(url, json={"now": None}).json()
    assert real["simulated"] is False and abs(real["unix"] - time.time()) < 5
    assert httpx.post(url, json={"now": "not a date"}).status_code == 400
