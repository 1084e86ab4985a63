"""Fuzzing the public door: malformed JSON, wrong types, huge bodies, missing and forged
signatures, replayed timestamps and unknown send ids, thrown at every receiver endpoint (the
providers' webhooks and the shop's app events).

Every bad case gets a 4xx with a reason, nothing unverified or malformed is stored, and the
valid event posted right after each bad one is stored (nothing around them is lost). Unknown
send ids in correctly signed events are the documented exception: accepted (200), stored with
send_id null and counted as unmatched.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ._webhooks_support import (
    app_batch,
    app_event,
    app_headers,
    json_body,
    push_headers,
    push_receipt,
    query,
    receiver_client,
    receiver_config,
    sendgrid_event,
    sendgrid_headers,
    twilio_headers,
    twilio_inbound,
    twilio_status,
    wipe,
)

pytestmark = pytest.mark.integration

CAP = 16 * 1024
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
counter = itertools.count(1_000_000)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
wrong_types = (
    st.none()
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(st.characters(exclude_characters="\x00"), max_size=3), st.integers(), max_size=2)
)


@pytest.fixture(scope="module")
def fuzz(warehouse_url: str) -> Iterator[tuple[TestClient, str]]:
    wipe(warehouse_url)
    with receiver_client(receiver_config(warehouse_url, max_body_bytes=CAP)) as client:
        yield client, warehouse_url


def _count(url: str) -> int:
    """Events stored by any endpoint."""
    return query(url, "select (select count(*) from raw.message_events) + (select count(*) from raw.app_events)")[0][0]


def _then_valid_event_is_stored(client: TestClient, url: str) -> None:
    """A correctly signed event right after the bad request is stored."""
    i = next(counter)
    body = json_body([sendgrid_event(i)])
    response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
    assert response.status_code == 200 and response.json()["stored"] == 1


def _assert_refused(response, url: str, before: int, statuses: set[int]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.json()["error"], "a refusal names its reason"
    assert _count(url) == before, "nothing from a refused request is stored"


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_sendgrid_signed_garbage_is_refused(fuzz, body: bytes) -> None:
    """Signed bodies that are not a batch of events: 400 (or 413 when too big)."""
    client, url = fuzz
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if parsed == []:
        return  # an empty batch is valid (nothing to store)
    before = _count(url)
    response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
    _assert_refused(response, url, before, {400, 413})
    _then_valid_event_is_stored(client, url)


@FUZZ
@given(
    field=st.sampled_from(["sg_event_id", "event", "timestamp", "send_id", "email"]),
    value=wrong_types,
    index=st.integers(0, 4),
)
def test_sendgrid_wrong_types_refuse_the_whole_batch(fuzz, field: str, value, index: int) -> None:
    """One event with a wrong-typed field refuses its batch with a reason naming the event."""
    client, url = fuzz
    events = [sendgrid_event(next(counter)) for _ in range(5)]
    events[index][field] = value
    if value is None and field in ("send_id", "email"):
        return  # null custom args and emails are allowed
    body = json_body(events)
    before = _count(url)
    response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
    _assert_refused(response, url, before, {400})
    assert f"event {index}" in response.json()["error"]
    _then_valid_event_is_stored(client, url)


@FUZZ
@given(
    signature=st.one_of(
        st.none(),
        st.text(max_size=120),
        st.binary(min_size=64, max_size=72).map(lambda b: __import__("base64").b64encode(b).decode()),
    ),
    skew=st.one_of(st.just(0), st.integers(301, 10**6), st.integers(-(10**6), -301)),
)
def test_sendgrid_forged_or_replayed_requests_are_refused(fuzz, signature, skew: int) -> None:
    """Missing or forged signatures (401/403) and timestamps outside the window (401)."""
    client, url = fuzz
    body = json_body([sendgrid_event(next(counter))])
    headers = sendgrid_headers(body, timestamp=int(time.time()) + skew)
    if signature is None:
        headers.pop("X-Twilio-Email-Event-Webhook-Signature")
    elif skew == 0:
        headers["X-Twilio-Email-Event-Webhook-Signature"] = signature
    headers = {k: v.encode("ascii", "ignore").decode() for k, v in headers.items()}
    before = _count(url)
    response = client.post("/webhooks/sendgrid", content=body, headers=headers)
    _assert_refused(response, url, before, {401, 403})
    _then_valid_event_is_stored(client, url)


@FUZZ
@given(size=st.integers(CAP + 1, 4 * CAP), streamed=st.booleans())
def test_huge_bodies_are_refused_everywhere(fuzz, size: int, streamed: bool) -> None:
    client, url = fuzz
    body = b"[" + b" " * (size - 2) + b"]"
    before = _count(url)
    for path, headers in (
        ("/webhooks/sendgrid", sendgrid_headers(body)),
        ("/webhooks/push", push_headers(body)),
        ("/events/app", app_headers(body)),
        ("/webhooks/twilio/status", twilio_headers("/webhooks/twilio/status", {})),
    ):
        content = iter([body[: size // 2], body[size // 2 :]]) if streamed else body
        response = client.post(path, content=content, headers=headers)
        _assert_refused(response, url, before, {413})
    _then_valid_event_is_stored(client, url)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["MessageSid", "MessageStatus", "To", "From", "Body", "ErrorCode", "X"]),
        st.text(max_size=30),
        max_size=7,
    ),
    endpoint=st.sampled_from(["status", "inbound"]),
    forge=st.sampled_from(["none", "wrong-token", "tamper", "signed"]),
)
def test_twilio_forged_or_malformed_callbacks(fuzz, params: dict[str, str], endpoint: str, forge: str) -> None:
    """Unsigned, wrongly signed or tampered callbacks get 401/403; signed but malformed ones 400."""
    client, url = fuzz
    path = f"/webhooks/twilio/{endpoint}"
    if forge == "signed":
        params = {**params, "MessageSid": params.get("MessageSid", "") + "x"}  # never a valid SID
    headers = twilio_headers(path, params, token="wrong" if forge == "wrong-token" else "twilio-test-token")
    if forge == "none":
        headers.pop("X-Twilio-Signature")
    sent = {**params, "Extra": "1"} if forge == "tamper" else params
    before = _count(url)
    response = client.post(path, content=urlencode(sent), headers=headers)
    _assert_refused(response, url, before, {400} if forge == "signed" else {401, 403})
    ok = twilio_status(next(counter), "delivered")
    assert (
        client.post(
            "/webhooks/twilio/status", content=urlencode(ok), headers=twilio_headers("/webhooks/twilio/status", ok)
        ).status_code
        == 200
    )


@FUZZ
@given(receipts=json_values, skew=st.sampled_from([0, 0, 900]))
def test_push_garbage_and_replays_are_refused(fuzz, receipts, skew: int) -> None:
    client, url = fuzz
    if receipts == []:
        return
    body = json.dumps(receipts).encode()
    before = _count(url)
    response = client.post(
        "/webhooks/push", content=body, headers=push_headers(body, timestamp=int(time.time()) - skew)
    )
    _assert_refused(response, url, before, {401} if skew else {400})
    good = json_body([push_receipt(next(counter))])
    assert client.post("/webhooks/push", content=good, headers=push_headers(good)).status_code == 200


def _then_valid_app_event_is_stored(client: TestClient) -> None:
    body = app_batch([app_event(next(counter), "push_opened")])
    response = client.post("/events/app", content=body, headers=app_headers(body))
    assert response.status_code == 200 and response.json()["stored"] == 1


@FUZZ
@given(value=json_values, wrapped=st.booleans(), skew=st.sampled_from([0, 0, 900]))
def test_app_events_garbage_and_replays_are_refused(fuzz, value, wrapped: bool, skew: int) -> None:
    """Signed bodies that are not a batch of events (or whose events are anything but events): 400;
    the same outside the replay window: 401."""
    client, url = fuzz
    batch = {"events": value} if wrapped else value
    if batch == {"events": []}:
        return  # a valid, empty batch
    body = json.dumps(batch).encode()
    before = _count(url)
    response = client.post("/events/app", content=body, headers=app_headers(body, timestamp=int(time.time()) - skew))
    _assert_refused(response, url, before, {401} if skew else {400})
    _then_valid_app_event_is_stored(client)


@FUZZ
@given(
    field=st.sampled_from(
        ["event_id", "customer_id", "event_type", "occurred_at", "product_id", "quantity", "unit_price", "score"]
    ),
    value=wrong_types,
    index=st.integers(0, 4),
)
def test_app_events_wrong_types_refuse_the_whole_batch(fuzz, field: str, value, index: int) -> None:
    """One added_to_cart event with a wrong-typed field (each is required there, or, for score, not allowed)
    refuses its batch with a reason naming the event and the field."""
    client, url = fuzz
    if value is None and field == "score":
        return  # an absent score is right for a cart event
    events = [app_event(next(counter), "added_to_cart") for _ in range(5)]
    events[index][field] = value
    body = app_batch(events)
    before = _count(url)
    response = client.post("/events/app", content=body, headers=app_headers(body))
    _assert_refused(response, url, before, {400})
    assert response.json()["error"].startswith(f"event {index}: {field} ")
    _then_valid_app_event_is_stored(client)


@FUZZ
@given(send_id=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s))
def test_unknown_send_ids_are_accepted_unjoined(fuzz, send_id: str) -> None:
    """The documented exception: a correctly signed event naming an unknown send is stored with
    send_id null (the provider did report it) and flagged as unmatched in the answer."""
    client, url = fuzz
    event = sendgrid_event(next(counter), send_id=f"unknown-{send_id}")
    body = json_body([event])
    response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
    assert response.status_code == 200 and response.json()["unmatched"] == 1
    stored = query(
        url, "select send_id, payload->>'send_id' from raw.message_events where event_id = %s", [event["sg_event_id"]]
    )
    assert stored == [(None, event["send_id"])]


def test_inbound_fuzz_helpers_are_consistent(fuzz) -> None:
    """Sanity check for the fuzz harness: a valid inbound SMS is accepted."""
    client, _ = fuzz
    params = twilio_inbound(next(counter), "hello")
    path = "/webhooks/twilio/inbound"
    assert client.post(path, content=urlencode(params), headers=twilio_headers(path, params)).status_code == 200
