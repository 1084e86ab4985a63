"""The webhook receiver: only correctly signed, fresh provider requests reach raw.message_events,
once per provider event id, with the send id joined back; consent changes land in
loyalty.contactability in the same transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from loyalty.unsubscribe import InvalidToken, list_unsubscribe_headers, make_token, read_token
from loyalty.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReceiverConfig,
    config_from_env,
    mask_email,
    mask_phone,
)

from ._webhooks_support import (
    PUBLIC_KEY,
    TWILIO_TOKEN,
    UNSUBSCRIBE_SECRET,
    add_sends,
    contactability,
    json_body,
    push_headers,
    push_receipt,
    query,
    receiver_client,
    receiver_config,
    sendgrid_event,
    sendgrid_headers,
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
            ("START", True, "sms_keyword_start"),
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
            "providers": ["sendgrid", "twilio", "push", "unsubscribe"],
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
        config = config_from_env(url)
        assert config.twilio_auth_token == "tw-secret-value"
        assert config.configured == ["sendgrid", "twilio", "push"]
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
