"""The webhook receiver: only correctly signed, fresh provider requests reach raw.message_events,
once per provider event id, with the send id joined back; consent changes land in
loyalty.contactability in the same transaction. The shop's signed app events reach raw.app_events,
typed, once per event id, and a batch with one bad event is refused whole."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from loyalty.loader.entities import APP_EVENT_TYPES
from loyalty.unsubscribe import InvalidToken, list_unsubscribe_headers, make_token, read_token
from loyalty.webhooks import (
    APP_SIGNATURE_HEADER,
    APP_TIMESTAMP_HEADER,
    MAX_APP_EVENTS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReceiverConfig,
    app_event_headers,
    config_from_env,
    mask_email,
    mask_phone,
)

from ._webhooks_support import (
    PUBLIC_KEY,
    TWILIO_TOKEN,
    UNSUBSCRIBE_SECRET,
    add_sends,
    app_batch,
    app_event,
    app_headers,
    contactability,
    json_body,
    push_headers,
    push_receipt,
    query,
    receiver_client,
    receiver_config,
    sendgrid_event,
    sendgrid_headers,
    stored_app_events,
    stored_events,
    twilio_headers,
    twilio_inbound,
    twilio_status,
    wipe,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def url(clean_warehouse: str) -> str:
    wipe(clean_warehouse)
    return clean_warehouse


@pytest.fixture
def client(url: str) -> Iterator[TestClient]:
    with receiver_client(receiver_config(url)) as test_client:
        yield test_client


def _post_sendgrid(client: TestClient, events: list[dict]):
    body = json_body(events)
    return client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))


def _post_twilio(client: TestClient, path: str, params: dict[str, str], token: str = TWILIO_TOKEN):
    return client.post(path, content=urlencode(params), headers=twilio_headers(path, params, token))


class TestSendGridWebhook:
    def test_signed_batch_is_stored_once(self, client: TestClient, url: str) -> None:
        """A valid batch is stored with send ids; the provider's retry of it adds nothing."""
        add_sends(url, [(f"send-{i}", "email", f"customer{i}@example.com") for i in range(3)])
        events = [sendgrid_event(i, send_id=f"send-{i}") for i in range(3)]
        first = _post_sendgrid(client, events)
        retry = _post_sendgrid(client, events)
        assert first.status_code == 200
        assert first.json() == {"received": 3, "stored": 3, "duplicates": 0, "unmatched": 0}
        assert retry.json() == {"received": 3, "stored": 0, "duplicates": 3, "unmatched": 0}
        assert stored_events(url) == [(f"evt-delivered-{i}", f"send-{i}", "delivered") for i in range(3)]

    def test_unknown_send_id_is_stored_unjoined_and_counted(self, client: TestClient, url: str) -> None:
        """A signed event naming a send the ledger does not know is still the provider's word: it is
        stored with send_id null (payload intact), counted as unmatched, and its batch neighbours
        are stored normally. Refusing it would only make the provider retry the batch for a day."""
        add_sends(url, [("send-0", "email", "customer0@example.com")])
        response = _post_sendgrid(client, [sendgrid_event(0, send_id="send-0"), sendgrid_event(1, send_id="nope")])
        assert response.status_code == 200 and response.json()["unmatched"] == 1
        assert stored_events(url) == [
            ("evt-delivered-0", "send-0", "delivered"),
            ("evt-delivered-1", None, "delivered"),
        ]
        assert query(url, "select payload->>'send_id' from raw.message_events where send_id is null") == [("nope",)]

    @pytest.mark.parametrize(
        ("mutate", "status", "reason"),
        [
            (lambda body, headers: (body + b" ", headers), 403, "signature"),
            (lambda body, headers: (body, {}), 401, "missing"),
            (lambda body, headers: (body, {**headers, SIGNATURE_HEADER: "not-base64!"}), 403, "signature"),
            (
                lambda body, headers: (body, sendgrid_headers(body, key=ec.generate_private_key(ec.SECP256R1()))),
                403,
                "signature",
            ),
            (lambda body, headers: (body, sendgrid_headers(body, timestamp=int(time.time()) - 3600)), 401, "replay"),
            (lambda body, headers: (body, sendgrid_headers(body, timestamp=int(time.time()) + 3600)), 401, "replay"),
            (lambda body, headers: (body, {**headers, TIMESTAMP_HEADER: "soon"}), 401, "unix timestamp"),
        ],
        ids=["tampered-body", "no-headers", "garbage-signature", "wrong-key", "stale", "future", "bad-timestamp"],
    )
    def test_forged_or_stale_batches_are_refused(self, client: TestClient, url: str, mutate, status, reason) -> None:
        """Anything not signed by the provider's key, or replayed late, gets a 4xx and stores nothing."""
        body = json_body([sendgrid_event(i) for i in range(2)])
        sent_body, headers = mutate(body, sendgrid_headers(body))
        response = client.post("/webhooks/sendgrid", content=sent_body, headers=headers)
        assert response.status_code == status
        assert reason in response.json()["error"]
        assert stored_events(url) == []

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"{not json", "not JSON"),
            (b'{"event": "open"}', "JSON array"),
            (b'[{"event": "open", "timestamp": 1}]', "event 0 lacks sg_event_id"),
            (b'[{"event": "open", "timestamp": "x", "sg_event_id": "e"}]', "timestamp must be a number"),
            (b'[{"event": "open", "timestamp": NaN, "sg_event_id": "e"}]', "not JSON"),
            (b'[{"event": "open", "timestamp": 1e300, "sg_event_id": "e"}]', "timestamp must be a number"),
            (b'[{"event": "open", "timestamp": true, "sg_event_id": "e"}]', "timestamp must be a number"),
            (b'[{"event": "open", "timestamp": 1, "sg_event_id": ""}]', "non-empty strings"),
            (b'[{"event": "open", "timestamp": 1, "sg_event_id": "e", "send_id": 7}]', "send_id must be a string"),
            (b'[{"event": "open", "timestamp": 1, "sg_event_id": "e\\u0000"}]', "NUL"),
            (b'[{"event": "open", "timestamp": 1, "sg_event_id": "e\\ud800"}]', "warehouse refused"),
            (b"[1]", "event 0 is not an object"),
        ],
    )
    def test_malformed_signed_payload_is_refused(self, client: TestClient, url: str, body: bytes, reason: str) -> None:
        """A signed but malformed batch gets a 400 naming what is wrong; nothing is stored."""
        response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
        assert response.status_code == 400
        assert reason in response.json()["error"]
        assert stored_events(url) == []

    def test_oversized_body_is_refused(self, url: str) -> None:
        """Bodies over the cap are refused before any parsing, declared or streamed."""
        with receiver_client(ReceiverConfig(url, PUBLIC_KEY, max_body_bytes=100)) as client:
            body = json_body([sendgrid_event(i) for i in range(5)])
            response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
            streamed = client.post("/webhooks/sendgrid", content=iter([body]), headers=sendgrid_headers(body))
        assert response.status_code == 413 and streamed.status_code == 413
        assert stored_events(url) == []

    def test_unsubscribes_spam_reports_and_hard_bounces_end_contactability(self, client: TestClient, url: str) -> None:
        """unsubscribe, spamreport and hard bounces make the (lower-cased) address non-contactable;
        a soft 'blocked' bounce does not; group_resubscribe later makes it contactable again; an
        older event arriving late changes nothing."""
        add_sends(url, [("send-1", "email", "customer1@example.com")])
        events = [
            sendgrid_event(1, "unsubscribe", send_id="send-1"),
            sendgrid_event(2, "spamreport"),
            sendgrid_event(3, "bounce", type="bounce"),
            sendgrid_event(4, "bounce", type="blocked"),
        ]
        assert _post_sendgrid(client, events).status_code == 200
        state = contactability(url)
        assert state[("email", "customer1@example.com")] == (False, "email_unsubscribe", 1)
        assert state[("email", "customer2@example.com")] == (False, "email_spamreport", None)
        assert state[("email", "customer3@example.com")] == (False, "email_bounce", None)
        assert ("email", "customer4@example.com") not in state

        later = dict(sendgrid_event(1, "group_resubscribe"), timestamp=1780300800 + 100)
        earlier = dict(sendgrid_event(1, "group_unsubscribe"), timestamp=1780300800 - 100)
        _post_sendgrid(client, [later])
        _post_sendgrid(client, [earlier])
        assert contactability(url)[("email", "customer1@example.com")] == (True, "email_group_resubscribe", 1)


class TestTwilioWebhooks:
    def test_status_callbacks_are_stored_once_per_sid_and_status(self, client: TestClient, url: str) -> None:
        """Event id = MessageSid + MessageStatus: a repeated callback is a no-op, each new status is
        a new event; the send id comes from the signed StatusCallback URL's query."""
        add_sends(url, [("sms-1", "sms", "+5511999990001")])
        path = "/webhooks/twilio/status?send_id=sms-1"
        for status in ("queued", "sent", "sent", "delivered"):
            response = _post_twilio(client, path, twilio_status(1, status))
            assert response.status_code == 200, response.text
        assert stored_events(url) == [
            (f"SM{1:032x}:delivered", "sms-1", "delivered"),
            (f"SM{1:032x}:queued", "sms-1", "queued"),
            (f"SM{1:032x}:sent", "sms-1", "sent"),
        ]

    def test_send_id_joined_through_message_sid_or_left_null(self, client: TestClient, url: str) -> None:
        """Without ?send_id the ledger's provider_message_id finds the send; a SID nobody sent is
        stored unjoined and counted as unmatched."""
        add_sends(url, [("sms-2", "sms", "+5511999990002")], provider_ids={"sms-2": f"SM{2:032x}"})
        assert _post_twilio(client, "/webhooks/twilio/status", twilio_status(2, "delivered")).json()["unmatched"] == 0
        assert _post_twilio(client, "/webhooks/twilio/status", twilio_status(3, "delivered")).json()["unmatched"] == 1
        assert stored_events(url) == [
            (f"SM{2:032x}:delivered", "sms-2", "delivered"),
            (f"SM{3:032x}:delivered", None, "delivered"),
        ]

    def test_delivery_receipt_time_is_used_when_present(self, client: TestClient, url: str) -> None:
        """RawDlrDoneDate (YYMMDDhhmm, UTC) becomes occurred_at; otherwise the time of receipt."""
        _post_twilio(client, "/webhooks/twilio/status", twilio_status(4, "delivered", RawDlrDoneDate="2606010930"))
        assert query(url, "select occurred_at::text from raw.message_events") == [("2026-06-01 09:30:00+00",)]

    @pytest.mark.parametrize(
        ("change", "status", "reason"),
        [
            (lambda path, params, headers: (path, params, {**headers, "X-Twilio-Signature": "AAAA"}), 403, "match"),
            (lambda path, params, headers: (path, params, {"Content-Type": headers["Content-Type"]}), 401, "missing"),
            (lambda path, params, headers: (path, {**params, "MessageStatus": "failed"}, headers), 403, "match"),
            (lambda path, params, headers: (path + "&send_id=other", params, headers), 403, "match"),
            (lambda path, params, headers: (path, params, twilio_headers(path, params, "wrong-token")), 403, "match"),
            (
                lambda path, params, headers: (path, params, {**headers, "Content-Type": "application/json"}),
                415,
                "form",
            ),
            (
                lambda path, params, headers: (
                    path,
                    {**params, "MessageStatus": "weird"},
                    twilio_headers(path, {**params, "MessageStatus": "weird"}),
                ),
                400,
                "unknown MessageStatus",
            ),
            (
                lambda path, params, headers: (
                    path,
                    {**params, "MessageSid": "x"},
                    twilio_headers(path, {**params, "MessageSid": "x"}),
                ),
                400,
                "MessageSid",
            ),
        ],
        ids=["bad-signature", "no-signature", "tampered-param", "tampered-url", "wrong-token", "json", "status", "sid"],
    )
    def test_forged_or_malformed_callbacks_are_refused(
        self, client: TestClient, url: str, change, status, reason
    ) -> None:
        """The signature covers the full URL (query included) and every parameter."""
        path, params = "/webhooks/twilio/status?send_id=sms-1", twilio_status(5, "delivered")
        path, params, headers = change(path, params, twilio_headers(path, params))
        response = client.post(path, content=urlencode(params), headers=headers)
        assert response.status_code == status
        assert reason in response.json()["error"]
        assert stored_events(url) == []

    def test_public_url_is_what_twilio_signed(self, url: str) -> None:
        """Behind a proxy, the signature is over the public URL Twilio called."""
        config = receiver_config(url, public_url="https://hooks.shop.example")
        params = twilio_status(6, "sent")
        path = "/webhooks/twilio/status?send_id=s"
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://hooks.shop.example" + path, params)
        with receiver_client(config) as client:
            headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
            assert client.post(path, content=urlencode(params), headers=headers).status_code == 200
            assert _post_twilio(client, path, params).status_code == 403  # signed for the internal URL

    def test_permanent_error_codes_end_sms_contactability(self, client: TestClient, url: str) -> None:
        """undelivered/failed with 21610, 30005 or 30006 mark the number; 30003 (unreachable now) does not."""
        for number, code in ((7, "30005"), (8, "30003"), (9, "21610")):
            params = twilio_status(number, "undelivered", to=f"+55119999900{number:02d}", ErrorCode=code)
            _post_twilio(client, "/webhooks/twilio/status", params)
        assert contactability(url) == {
            ("sms", "+5511999990007"): (False, "sms_unknown_destination", None),
            ("sms", "+5511999990009"): (False, "sms_opted_out", None),
        }

    @pytest.mark.parametrize(
        ("body", "contactable", "reason"),
        [
            ("STOP", False, "sms_keyword_stop"),
            ("stopall", False, "sms_keyword_stopall"),
            (" Unsubscribe ", False, "sms_keyword_unsubscribe"),
            ("cancel", False, "sms_keyword_cancel"),
            ("END", False, "sms_keyword_end"),
            ("quit.", False, "sms_keyword_quit"),
            ("Parar", False, "sms_keyword_parar"),
            ("SAIR!", False, "sms_keyword_sair"),
            ("Saír", False, "sms_keyword_sair"),
            ("CANCELAR", False, "sms_keyword_cancelar"),
            ("  descadastrar. ", False, "sms_keyword_descadastrar"),
            ("Descadastre!", False, "sms_keyword_descadastre"),
            ("START", True, "sms_keyword_start"),
            ("Iniciar", True, "sms_keyword_iniciar"),
            ("sim", True, "sms_keyword_sim"),
        ],
    )
    def test_inbound_keywords_change_consent_at_once(
        self, client: TestClient, url: str, body, contactable, reason
    ) -> None:
        """An inbound keyword updates the sender's SMS contactability before the receiver answers
        (empty TwiML), so the next DAG run sees it."""
        response = _post_twilio(client, "/webhooks/twilio/inbound", twilio_inbound(10, body))
        assert response.status_code == 200 and "<Response>" in response.text
        assert contactability(url) == {("sms", "+5511999990001"): (contactable, reason, None)}
        assert stored_events(url) == [(f"SM{10:032x}:received", None, "inbound")]

    @pytest.mark.parametrize("body", ["HELP", "Ajuda", "informação", "stop sending me these", "Parar agora"])
    def test_help_or_a_sentence_changes_nothing(self, client: TestClient, url: str, body: str) -> None:
        """Only the whole message is a keyword (as carriers match): a sentence that contains one is stored
        as an inbound event and leaves contactability alone."""
        response = _post_twilio(client, "/webhooks/twilio/inbound", twilio_inbound(14, body))
        assert response.status_code == 200
        assert contactability(url) == {}
        assert len(stored_events(url)) == 1

    def test_opt_out_then_opt_in_and_help_changes_nothing(self, client: TestClient, url: str) -> None:
        """STOP then START: contactable again; HELP is stored but changes nothing; a replayed STOP
        (same MessageSid) is a no-op rather than a new opt-out."""
        stop = twilio_inbound(11, "STOP")
        _post_twilio(client, "/webhooks/twilio/inbound", stop)
        _post_twilio(client, "/webhooks/twilio/inbound", twilio_inbound(12, "START"))
        _post_twilio(client, "/webhooks/twilio/inbound", twilio_inbound(13, "HELP"))
        _post_twilio(client, "/webhooks/twilio/inbound", stop)
        assert contactability(url) == {("sms", "+5511999990001"): (True, "sms_keyword_start", None)}
        assert len(stored_events(url)) == 3


class TestPushReceipts:
    def test_receipts_stored_once_and_joined(self, client: TestClient, url: str) -> None:
        add_sends(url, [("push-1", "push", "token-1")])
        body = json_body([push_receipt(1, "delivered", "push-1"), push_receipt(1, "open", "push-1"), push_receipt(2)])
        first = client.post("/webhooks/push", content=body, headers=push_headers(body))
        again = client.post("/webhooks/push", content=body, headers=push_headers(body))
        assert first.json() == {"received": 3, "stored": 3, "duplicates": 0, "unmatched": 1}
        assert again.json()["stored"] == 0
        assert [row[1:] for row in stored_events(url)] == [
            ("push-1", "delivered"),
            ("push-1", "open"),
            (None, "delivered"),
        ]

    @pytest.mark.parametrize(
        ("headers", "status", "reason"),
        [
            (lambda body: {}, 401, "missing"),
            (lambda body: push_headers(body, secret="guess"), 403, "does not match"),
            (lambda body: push_headers(body + b" "), 403, "does not match"),
            (lambda body: push_headers(body, timestamp=int(time.time()) - 600), 401, "replay"),
        ],
        ids=["unsigned", "wrong-secret", "other-body", "stale"],
    )
    def test_unsigned_or_stale_receipts_are_refused(
        self, client: TestClient, url: str, headers, status, reason
    ) -> None:
        body = json_body([push_receipt(1)])
        response = client.post("/webhooks/push", content=body, headers=headers(body))
        assert response.status_code == status and reason in response.json()["error"]
        assert stored_events(url) == []

    @pytest.mark.parametrize(
        ("receipts", "reason"),
        [
            ({"event": "open"}, "JSON array"),
            ([{"event": "open"}], "lacks"),
            ([dict(push_receipt(1), event="clicked")], "event must be one of"),
            ([dict(push_receipt(1), send_id=5)], "send_id must be a string"),
        ],
    )
    def test_malformed_receipts_are_refused(self, client: TestClient, url: str, receipts, reason) -> None:
        body = json_body(receipts)
        response = client.post("/webhooks/push", content=body, headers=push_headers(body))
        assert response.status_code == 400 and reason in response.json()["error"]


def _post_app(client: TestClient, events: list[dict]):
    body = app_batch(events)
    return client.post("/events/app", content=body, headers=app_headers(body))


def _in(seconds: float) -> dt.datetime:
    """A moment ``seconds`` from now, ISO 8601 with offset as the shop's backend would send it."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


def _without(event: dict, *names: str) -> dict:
    return {name: value for name, value in event.items() if name not in names}


class TestAppEvents:
    def test_signed_batch_is_stored_with_typed_columns(
        self, client: TestClient, url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every event type lands in raw.app_events with its own columns typed (bigint ids, numeric(12,2)
        price, timestamptz from ISO 8601 with any offset or from unix seconds); customers raw.customers does
        not know are stored all the same; the log carries counts, no customer or event id."""
        caplog.set_level(logging.DEBUG, logger="loyalty")
        soon = _in(1800).replace(microsecond=0)
        events = [
            app_event(1, "product_viewed"),
            app_event(2, "added_to_cart", unit_price=1234567890.5, occurred_at="2026-06-01T12:30:00+03:00"),
            app_event(3, "removed_from_cart", occurred_at="2026-06-01T09:30:00.250Z"),
            app_event(4, "cart_abandoned", order_id="cart-4", occurred_at=1780306200),
            app_event(5, "push_opened", occurred_at=1780306200.5),
            app_event(6, "nps_answered", score=0),
            app_event(7, "csat_answered", score=5, occurred_at=soon.isoformat()),
        ]
        assert {event["event_type"] for event in events} == set(APP_EVENT_TYPES)
        response = _post_app(client, events)
        assert response.status_code == 200, response.text
        assert response.json() == {"received": 7, "stored": 7, "duplicates": 0}
        at = dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.UTC)
        assert stored_app_events(url) == [
            ("app-added_to_cart-2", 1002, "added_to_cart", at, 102, 2, Decimal("1234567890.50"), None, None),
            ("app-cart_abandoned-4", 1004, "cart_abandoned", at, None, None, None, None, "cart-4"),
            ("app-csat_answered-7", 1007, "csat_answered", soon, None, None, None, 5, None),
            ("app-nps_answered-6", 1006, "nps_answered", at, None, None, None, 0, "order-6"),
            ("app-product_viewed-1", 1001, "product_viewed", at, 101, None, None, None, None),
            ("app-push_opened-5", 1005, "push_opened", at + dt.timedelta(seconds=0.5), None, None, None, None, None),
            (
                "app-removed_from_cart-3",
                1003,
                "removed_from_cart",
                at + dt.timedelta(seconds=0.25),
                103,
                1,
                None,
                None,
                None,
            ),
        ]
        assert query(url, "select count(*) from raw.customers") == [(0,)]
        assert "app events: 7 received, 7 stored" in caplog.text
        assert "1001" not in caplog.text and "app-product_viewed" not in caplog.text

    def test_resent_events_are_no_ops(self, client: TestClient, url: str) -> None:
        """The same batch again stores nothing (all duplicates); a batch mixing old and new events stores
        the new ones; an event repeated inside one batch is stored once; an empty batch is fine."""
        events = [app_event(i, "push_opened") for i in range(3)]
        assert _post_app(client, events).json() == {"received": 3, "stored": 3, "duplicates": 0}
        assert _post_app(client, events).json() == {"received": 3, "stored": 0, "duplicates": 3}
        mixed = [events[0], app_event(3, "push_opened"), app_event(4, "push_opened"), app_event(4, "push_opened")]
        assert _post_app(client, mixed).json() == {"received": 4, "stored": 2, "duplicates": 2}
        assert _post_app(client, []).json() == {"received": 0, "stored": 0, "duplicates": 0}
        assert [row[0] for row in stored_app_events(url)] == [f"app-push_opened-{i}" for i in range(5)]

    def test_the_signing_helper_is_the_documented_recipe(self) -> None:
        """app_event_headers = v1= + hex HMAC-SHA256(secret, timestamp + "." + body), the recipe README gives a
        shop that signs in another language."""
        body = app_batch([app_event(1)])
        headers = app_event_headers("s3cret", body, now=1780306200.9)
        expected = hmac.new(b"s3cret", b"1780306200." + body, hashlib.sha256).hexdigest()
        assert headers == {
            APP_SIGNATURE_HEADER: f"v1={expected}",
            APP_TIMESTAMP_HEADER: "1780306200",
            "Content-Type": "application/json",
        }

    @pytest.mark.parametrize(
        ("headers", "status", "reason"),
        [
            (lambda body: {"Content-Type": "application/json"}, 401, "missing X-Loyalty-App-Signature"),
            (lambda body: app_headers(body, secret="guess"), 403, "does not match"),
            (lambda body: app_headers(body, secret="push-test-secret"), 403, "does not match"),
            (lambda body: app_headers(body + b" "), 403, "does not match"),
            (lambda body: app_headers(body, timestamp=int(time.time()) - 301), 401, "replay window"),
            (lambda body: app_headers(body, timestamp=int(time.time()) + 600), 401, "replay window"),
            (lambda body: {**app_headers(body), APP_TIMESTAMP_HEADER: "soon"}, 401, "unix timestamp"),
            (lambda body: {**app_headers(body), APP_SIGNATURE_HEADER: "v1=00"}, 403, "does not match"),
        ],
        ids=["unsigned", "wrong-secret", "push-secret", "other-body", "stale", "future", "bad-timestamp", "forged"],
    )
    def test_unsigned_forged_or_stale_batches_are_refused(
        self, client: TestClient, url: str, headers, status: int, reason: str
    ) -> None:
        """Only the shop's secret signs; a batch replayed outside the 5-minute window is refused."""
        body = app_batch([app_event(1)])
        response = client.post("/events/app", content=body, headers=headers(body))
        assert response.status_code == status and reason in response.json()["error"]
        assert stored_app_events(url) == []

    def test_without_a_secret_the_endpoint_answers_503(self, url: str) -> None:
        with receiver_client(receiver_config(url, app_events_secret="")) as client:
            response = _post_app(client, [app_event(1)])
        assert response.status_code == 503 and "app event secret is not configured" in response.json()["error"]
        assert stored_app_events(url) == []

    def test_oversized_body_is_refused(self, url: str) -> None:
        """The providers' body cap applies, declared or streamed."""
        body = app_batch([app_event(i) for i in range(5)])
        with receiver_client(receiver_config(url, max_body_bytes=len(body) - 1)) as client:
            declared = client.post("/events/app", content=body, headers=app_headers(body))
            streamed = client.post("/events/app", content=iter([body]), headers=app_headers(body))
        assert declared.status_code == 413 and streamed.status_code == 413
        assert stored_app_events(url) == []

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
    def test_only_json_is_accepted(self, client: TestClient, url: str, content_type: str | None) -> None:
        body = app_batch([app_event(1)])
        headers = app_headers(body)
        if content_type is None:
            headers.pop("Content-Type")
        else:
            headers["Content-Type"] = content_type
        response = client.post("/events/app", content=body, headers=headers)
        assert response.status_code == 415 and "expected application/json" in response.json()["error"]
        assert stored_app_events(url) == []

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"{not json", "not JSON"),
            (b'[{"event_id": "e"}]', 'JSON object {"events": [...]}'),
            (b'{"event": []}', 'JSON object {"events": [...]}'),
            (b'{"events": {}}', "events must be a JSON array"),
            (b'{"events": [], "shop": 1}', "unknown field(s) shop in the body"),
            (b'{"events": [1]}', "event 0: is not an object"),
            (app_batch([app_event(i) for i in range(MAX_APP_EVENTS + 1)]), "at most 1000 events per request"),
        ],
        ids=["not-json", "array", "no-events", "events-object", "extra-key", "not-object", "too-many"],
    )
    def test_malformed_batches_are_refused(self, client: TestClient, url: str, body: bytes, reason: str) -> None:
        response = client.post("/events/app", content=body, headers=app_headers(body))
        assert response.status_code == 400 and reason in response.json()["error"], response.text
        assert stored_app_events(url) == []

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            (app_event(9, event_id=""), "event_id must be a non-empty string of at most 200 characters"),
            (app_event(9, event_id="x" * 201), "event_id must be a non-empty string"),
            (app_event(9, event_id=17), "event_id must be a non-empty string"),
            (_without(app_event(9), "event_id"), "event_id is required"),
            (_without(app_event(9), "event_id", "customer_id"), "event_id, customer_id are required"),
            (app_event(9, event_id="e\ud800"), "event_id contains a character that is not valid UTF-8"),
            (app_event(9, customer_id=0), "customer_id must be a positive integer"),
            (app_event(9, customer_id=-3), "customer_id must be a positive integer"),
            (app_event(9, customer_id="42"), "customer_id must be a positive integer"),
            (app_event(9, customer_id=True), "customer_id must be a positive integer"),
            (app_event(9, customer_id=42.0), "customer_id must be a positive integer"),
            (app_event(9, customer_id=2**63), "customer_id must be a positive integer"),
            (app_event(9, customer_id=None), "customer_id is required"),
            (app_event(9, event_type="clicked"), "event_type must be one of product_viewed, added_to_cart"),
            (_without(app_event(9), "event_type"), "event_type is required"),
            (app_event(9, occurred_at="yesterday"), "occurred_at 'yesterday' is not an ISO 8601 date-time"),
            (app_event(9, occurred_at="2026-06-01T09:30:00"), "occurred_at must carry a UTC offset"),
            (app_event(9, occurred_at="2026-06-01"), "occurred_at must carry a UTC offset"),
            # A day ahead, not two hours: parameters are made at collection, which can be an hour before this runs.
            (app_event(9, occurred_at=_in(86400).isoformat()), "occurred_at is more than 1 hour in the future"),
            (app_event(9, occurred_at=int(_in(86400).timestamp())), "occurred_at is more than 1 hour in the future"),
            (app_event(9, occurred_at=1e300), "occurred_at is more than 1 hour in the future"),
            (app_event(9, occurred_at=-1), "occurred_at is before 1970"),
            (app_event(9, occurred_at="0001-01-01T00:00:00+14:00"), "occurred_at is before 1970"),
            (app_event(9, occurred_at=True), "occurred_at must be an ISO 8601 date-time with a UTC offset, or"),
            (app_event(9, occurred_at=[2026, 6, 1]), "occurred_at must be an ISO 8601 date-time"),
            (_without(app_event(9, "product_viewed"), "product_id"), "product_id is required for product_viewed"),
            (_without(app_event(9, "added_to_cart"), "product_id"), "product_id is required for added_to_cart"),
            (_without(app_event(9, "added_to_cart"), "quantity"), "quantity is required for added_to_cart"),
            (_without(app_event(9, "added_to_cart"), "unit_price"), "unit_price is required for added_to_cart"),
            (app_event(9, "added_to_cart", quantity=0), "quantity must be a positive integer"),
            (app_event(9, "added_to_cart", quantity=2**31), "quantity must be a positive integer"),
            (app_event(9, "added_to_cart", unit_price=-0.01), "unit_price must be from 0 to less than"),
            (app_event(9, "added_to_cart", unit_price=1e10), "unit_price must be from 0 to less than"),
            (app_event(9, "added_to_cart", unit_price=19.999), "unit_price must have at most 2 decimal places"),
            (app_event(9, "added_to_cart", unit_price="19.99"), "unit_price must be a number"),
            (app_event(9, "added_to_cart", product_id=0), "product_id must be a positive integer"),
            (_without(app_event(9, "removed_from_cart"), "quantity"), "quantity is required for removed_from_cart"),
            (app_event(9, "removed_from_cart", quantity=-1), "quantity must be a positive integer"),
            (app_event(9, "removed_from_cart", unit_price=-5), "unit_price must be from 0"),
            (app_event(9, "nps_answered", score=11), "score must be an integer from 0 to 10 for nps_answered"),
            (app_event(9, "nps_answered", score=-1), "score must be an integer from 0 to 10 for nps_answered"),
            (app_event(9, "nps_answered", score=7.5), "score must be an integer from 0 to 10 for nps_answered"),
            (_without(app_event(9, "nps_answered"), "score"), "score is required for nps_answered"),
            (app_event(9, "csat_answered", score=0), "score must be an integer from 1 to 5 for csat_answered"),
            (app_event(9, "csat_answered", score=6), "score must be an integer from 1 to 5 for csat_answered"),
            (app_event(9, "product_viewed", score=5), "score is only for nps_answered and csat_answered"),
            (app_event(9, "nps_answered", order_id=""), "order_id must be a non-empty string"),
            (app_event(9, colour="red", size=3), "unknown field(s) colour, size"),
            (app_event(9, **{"unit price": 1}), "unknown field(s) 'unit price'"),
        ],
    )
    def test_one_bad_event_refuses_the_whole_batch(self, client: TestClient, url: str, bad: dict, reason: str) -> None:
        """The 400 names the event's index and the field; its valid neighbours are not stored either, and the
        corrected batch is then accepted whole."""
        good = [app_event(1, "added_to_cart"), app_event(2, "nps_answered")]
        response = _post_app(client, [*good, bad])
        assert response.status_code == 400
        assert response.json()["error"].startswith("event 2: ")
        assert reason in response.json()["error"], response.json()["error"]
        assert stored_app_events(url) == []
        assert _post_app(client, [*good, app_event(9)]).json()["stored"] == 3


class TestOneClickUnsubscribe:
    def test_headers_and_token_round_trip(self) -> None:
        """The helper builds RFC 8058 headers whose URL carries a token naming the send."""
        headers = list_unsubscribe_headers("https://hooks.shop.example/", "send-9", "s3cret", mailto="u@shop.example")
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = headers["List-Unsubscribe"].split(",")[0].strip("<> ")
        assert link.startswith("https://hooks.shop.example/unsubscribe/v1.")
        assert "<mailto:u@shop.example?subject=unsubscribe>" in headers["List-Unsubscribe"]
        assert read_token(link.rsplit("/", 1)[1], "s3cret") == "send-9"
        for forged in (
            make_token("send-9", "other"),
            make_token("send-8", "s3cret")[:-2] + "xx",
            "v2.abc.def",
            "x" * 600,
        ):
            with pytest.raises(InvalidToken):
                read_token(forged, "s3cret")

    def test_one_click_post_unsubscribes_the_ledger_recipient(self, client: TestClient, url: str) -> None:
        """POST with List-Unsubscribe=One-Click stores one unsubscribe event and ends email
        contactability of the send's recipient; a second click is acknowledged, nothing new."""
        add_sends(url, [("send-1", "email", "Ana@Example.com")])
        path = f"/unsubscribe/{make_token('send-1', UNSUBSCRIBE_SECRET)}"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        first = client.post(path, content="List-Unsubscribe=One-Click", headers=form)
        second = client.post(path, content="List-Unsubscribe=One-Click", headers=form)
        assert first.json() == {"unsubscribed": True, "already": False}
        assert second.json() == {"unsubscribed": True, "already": True}
        assert stored_events(url) == [("list-unsubscribe:send-1", "send-1", "unsubscribe")]
        assert contactability(url) == {("email", "ana@example.com"): (False, "email_list_unsubscribe", 1)}

    def test_refusals(self, client: TestClient, url: str) -> None:
        """Forged token 403, wrong body 400, unknown send 404, GET only shows a form: nothing stored."""
        add_sends(url, [("send-1", "email", "ana@example.com")])
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        good = f"/unsubscribe/{make_token('send-1', UNSUBSCRIBE_SECRET)}"
        forged = f"/unsubscribe/{make_token('send-1', 'guess')}"
        unknown = f"/unsubscribe/{make_token('send-404', UNSUBSCRIBE_SECRET)}"
        assert client.post(forged, content="List-Unsubscribe=One-Click", headers=form).status_code == 403
        assert client.post(good, content="List-Unsubscribe=Maybe", headers=form).status_code == 400
        assert client.post(unknown, content="List-Unsubscribe=One-Click", headers=form).status_code == 404
        page = client.get(good)
        assert page.status_code == 200 and 'method="post"' in page.text
        assert client.get(forged).status_code == 403
        assert stored_events(url) == [] and contactability(url) == {}


class TestReceiverOperations:
    def test_health(self, client: TestClient) -> None:
        """/health answers without the warehouse; /health/ready checks it."""
        assert client.get("/health").json() == {
            "status": "ok",
            "providers": ["sendgrid", "twilio", "push", "unsubscribe", "app_events"],
        }
        assert client.get("/health/ready").json() == {"status": "ok"}

    def test_unconfigured_provider_is_refused(self, url: str) -> None:
        """Without a provider's secret its endpoint answers 503 (nothing can be verified)."""
        with receiver_client(ReceiverConfig(url, PUBLIC_KEY)) as client:
            params = twilio_status(1, "sent")
            response = _post_twilio(client, "/webhooks/twilio/status", params)
            body = json_body([push_receipt(1)])
            push = client.post("/webhooks/push", content=body, headers=push_headers(body))
        assert response.status_code == 503 and push.status_code == 503
        assert stored_events(url) == []

    def test_secrets_come_from_env_and_never_show(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        monkeypatch.setenv("LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY", PUBLIC_KEY)
        monkeypatch.setenv("LOYALTY_TWILIO_AUTH_TOKEN", "tw-secret-value")
        monkeypatch.setenv("LOYALTY_PUSH_WEBHOOK_SECRET", "push-secret-value")
        monkeypatch.delenv("LOYALTY_UNSUBSCRIBE_SECRET", raising=False)
        monkeypatch.setenv("LOYALTY_APP_EVENTS_SECRET", "app-secret-value")
        config = config_from_env(url)
        assert config.twilio_auth_token == "tw-secret-value"
        assert config.app_events_secret == "app-secret-value"
        assert config.configured == ["sendgrid", "twilio", "push", "app_events"]
        assert "secret-value" not in repr(config) and url not in repr(config)

    def test_logs_mask_personal_data(self, client: TestClient, url: str, caplog: pytest.LogCaptureFixture) -> None:
        """Opt-outs are logged with masked numbers; no email or phone appears whole in any log."""
        caplog.set_level(logging.DEBUG, logger="loyalty")
        _post_twilio(client, "/webhooks/twilio/inbound", twilio_inbound(20, "STOP", sender="+5511987654321"))
        _post_sendgrid(client, [sendgrid_event(1, "unsubscribe", send_id="unknown")])
        text = caplog.text
        assert "+55*******4321" in text
        assert "5511987654321" not in text and "customer1@example.com" not in text.lower()
        assert mask_email("ana.souza@example.com") == "a***@example.com"
        assert mask_phone("+5511999990000") == "+55*******0000"
