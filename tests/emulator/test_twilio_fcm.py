"""The emulator's Twilio Messages API and FCM HTTP v1, driven by real clients, and their webhooks."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ._helpers import flush

SID = "AC" + "a" * 32
TOKEN = "emulator-test-token"
PUSH_SECRET = "push-secret"


class EmulatorHttpClient(TwilioHttpClient):
    """The documented way to point the twilio client elsewhere: rewrite scheme and host."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


def twilio(emu, token: str = TOKEN) -> Client:
    return Client(SID, token, http_client=EmulatorHttpClient(emu.url))


@pytest.fixture
def emu(emulator_factory, receiver):
    return emulator_factory(
        seed=4,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        sms_inbound_url=f"{receiver.url}?kind=inbound",
        push_receipt_url=receiver.url,
        push_webhook_secret=PUSH_SECRET,
    )


def _form_posts(receiver) -> list[tuple[dict, dict]]:
    return [(headers, dict(parse_qsl(body.decode(), keep_blank_values=True))) for headers, body in receiver.posts]


class TestTwilio:
    def test_create_returns_queued_sm_sid_and_records_send_id(self, emu, receiver) -> None:
        """messages.create answers 201 with an SM sid and status queued; the message is found by
        the send_id in its StatusCallback query and by its sid."""
        message = twilio(emu).messages.create(
            to="+5511999990001", from_="+15005550006", body="Oi", status_callback=f"{receiver.url}?send_id=s-1"
        )
        assert message.sid.startswith("SM") and len(message.sid) == 34 and message.status == "queued"
        [record] = httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "s-1"}).json()
        assert record["sid"] == message.sid and record["channel"] == "sms"
        assert httpx.get(f"{emu.url}/_emulator/messages", params={"id": message.sid}).json() == [record]

    @pytest.mark.parametrize(
        ("kwargs", "status", "code"),
        [
            ({"to": "12345", "from_": "+15005550006", "body": "x"}, 400, 21211),
            ({"to": "+5511999990001", "body": "x"}, 400, 21603),
            ({"to": "+5511999990001", "from_": "+15005550006", "body": "x" * 1601}, 400, 21617),
        ],
        ids=["invalid-to", "no-from", "too-long"],
    )
    def test_errors_in_twilio_shape(self, emu, kwargs, status, code) -> None:
        with pytest.raises(TwilioRestException) as info:
            twilio(emu).messages.create(**kwargs)
        assert (info.value.status, info.value.code) == (status, code)
        assert f"twilio.com/docs/errors/{code}" in str(info.value.details or "") or info.value.uri

    def test_wrong_credentials_are_20003(self, emu) -> None:
        with pytest.raises(TwilioRestException) as info:
            twilio(emu, token="wrong").messages.create(to="+5511999990001", from_="+15005550006", body="x")
        assert (info.value.status, info.value.code) == (401, 20003)

    def test_fetching_the_account_proves_the_credentials(self, emu) -> None:
        """GET /2010-04-01/Accounts/{sid}.json (what `loyalty doctor` calls) answers the active account for
        the configured SID and token; a wrong token or another SID is 401 with code 20003."""
        account = twilio(emu).api.v2010.accounts(SID).fetch()
        assert (account.sid, account.status) == (SID, "active")
        with pytest.raises(TwilioRestException) as info:
            twilio(emu, token="wrong").api.v2010.accounts(SID).fetch()
        assert (info.value.status, info.value.code) == (401, 20003)
        with pytest.raises(TwilioRestException) as info:
            twilio(emu).api.v2010.accounts("AC" + "b" * 32).fetch()
        assert info.value.status == 401

    def test_stop_blocks_with_21610_until_start(self, emu, receiver) -> None:
        """A recipient's STOP reaches the inbound URL signed; sends to them fail with 21610 until START."""
        client = twilio(emu)
        for body in ("stop", "START"):
            httpx.post(
                f"{emu.url}/_emulator/sms/inbound", json={"from": "+5511999990002", "to": "+15005550006", "body": body}
            )
            if body == "stop":
                with pytest.raises(TwilioRestException) as info:
                    client.messages.create(to="+5511999990002", from_="+15005550006", body="x")
                assert info.value.code == 21610
        assert client.messages.create(to="+5511999990002", from_="+15005550006", body="x").status == "queued"
        flush(emu)
        inbound = [params for _, params in _form_posts(receiver) if "Body" in params]
        assert [p["Body"] for p in inbound] == ["stop", "START"]
        assert all(p["SmsStatus"] == "received" and p["From"] == "+5511999990002" for p in inbound)

    def test_callbacks_are_signed_so_twilios_validator_accepts_them(self, emulator_factory, receiver) -> None:
        """Each status callback (queued, sent, delivered | undelivered with ErrorCode | failed) and
        each STOP reply is form-encoded, posted to its own URL and accepted by RequestValidator;
        a changed parameter or URL is not."""
        emu = emulator_factory(
            seed=8,
            twilio_account_sid=SID,
            twilio_auth_token=TOKEN,
            sms_inbound_url=f"{receiver.url}?kind=inbound",
            sms={"delivery_rate": 0.6, "unsubscribe_rate": 0.2},
        )
        client = twilio(emu)
        for i in range(40):
            client.messages.create(
                to=f"+55119999{i:05d}", from_="+15005550006", body="x", status_callback=f"{receiver.url}?send_id=s-{i}"
            )
        flush(emu)
        validator = RequestValidator(TOKEN)
        statuses: Counter = Counter()
        for headers, body in receiver.posts:
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            if "Body" not in params:  # a status callback, posted to its message's StatusCallback
                send_ids = [
                    m["send_id"]
                    for m in httpx.get(f"{emu.url}/_emulator/messages", params={"id": params["MessageSid"]}).json()
                ]
                signed_url = f"{receiver.url}?send_id={send_ids[0]}"
                statuses[params["MessageStatus"]] += 1
                if params["MessageStatus"] in ("undelivered", "failed"):
                    assert params["ErrorCode"].startswith("300")
            else:  # a reply, posted to the inbound URL
                signed_url = f"{receiver.url}?kind=inbound"
            signature = headers["x-twilio-signature"]
            assert headers["content-type"].startswith("application/x-www-form-urlencoded")
            assert validator.validate(signed_url, params, signature)
            assert not validator.validate(signed_url + "x", params, signature)
            assert not validator.validate(signed_url, {**params, "To": "+1"}, signature)
        assert statuses["queued"] == 40 and statuses["delivered"] + statuses["undelivered"] + statuses["failed"] == 40
        assert statuses["undelivered"] + statuses["failed"] > 0
        assert sum(1 for _, b in receiver.posts if b"Body=STOP" in b) > 0


class TestFcm:
    def _send(self, emu, message: dict, token: str | None = "ya29.token", project: str = "shop") -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{emu.url}/v1/projects/{project}/messages:send", json={"message": message}, headers=headers)

    def test_send_returns_name_and_receipts_are_signed(self, emu, receiver) -> None:
        """A valid message gets {"name": "projects/shop/messages/…"}; the app-side receipts carry
        the send id and verify with HMAC-SHA256 over timestamp + "." + body."""
        response = self._send(emu, {"token": "device-1", "notification": {"title": "Hi"}, "data": {"send_id": "p-1"}})
        assert response.status_code == 200
        name = response.json()["name"]
        assert name.startswith("projects/shop/messages/")
        [record] = httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "p-1"}).json()
        assert record["name"] == name and record["channel"] == "push"
        flush(emu)
        for headers, body in receiver.posts:
            ts = headers["x-loyalty-push-timestamp"]
            expected = hmac.new(PUSH_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            assert headers["x-loyalty-push-signature"] == f"v1={expected}"
        receipts = receiver.events()
        assert {r["event"] for r in receipts} <= {"delivered", "open"}
        assert all(r["send_id"] == "p-1" and r["message_id"] == name for r in receipts)

    def test_unregistered_token_and_bad_requests_in_fcm_shape(self, emu) -> None:
        httpx.post(f"{emu.url}/_emulator/push/tokens", json={"unregister": ["gone"]})
        gone = self._send(emu, {"token": "gone"})
        assert gone.status_code == 404
        error = gone.json()["error"]
        assert error["status"] == "NOT_FOUND" and error["details"][0]["errorCode"] == "UNREGISTERED"
        bad = self._send(emu, {"token": "t", "data": {"n": 1}})
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert self._send(emu, {"topic": "news"}).status_code == 400
        assert self._send(emu, {"token": "t"}, token=None).json()["error"]["status"] == "UNAUTHENTICATED"

    def test_validate_only_to_a_topic_checks_the_token_and_delivers_nothing(self, emulator_factory) -> None:
        """A validate_only dry run (what `loyalty doctor` sends) may name a topic, as FCM allows: the right
        token gets the fake message name, a wrong one 401 UNAUTHENTICATED; nothing is recorded as sent."""
        emu = emulator_factory(fcm_access_token="good")
        url = f"{emu.url}/v1/projects/shop/messages:send"
        body = {"validate_only": True, "message": {"topic": "loyalty-doctor"}}
        ok = httpx.post(url, json=body, headers={"Authorization": "Bearer good"})
        assert ok.status_code == 200 and ok.json()["name"] == "projects/shop/messages/fake_message_id"
        refused = httpx.post(url, json=body, headers={"Authorization": "Bearer bad"})
        assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
        assert httpx.get(f"{emu.url}/_emulator/messages", params={"channel": "push"}).json() == []

    def test_bounce_rate_unregisters_a_share_of_tokens(self, emulator_factory) -> None:
        emu = emulator_factory(seed=3, push={"bounce_rate": 0.5})
        url = f"{emu.url}/v1/projects/shop/messages:send"
        with httpx.Client(headers={"Authorization": "Bearer t"}) as client:
            codes = Counter(client.post(url, json={"message": {"token": f"tok-{i}"}}).status_code for i in range(200))
        assert 60 < codes[404] < 140 and codes[200] + codes[404] == 200


class TestFaultsAndSettings:
    def test_429_with_retry_after_for_each_channel(self, emu) -> None:
        """Faults speak each provider's error shape and carry Retry-After."""
        for channel in ("email", "sms", "push"):
            httpx.post(f"{emu.url}/_emulator/faults", json={"channel": channel, "status": 429, "retry_after": 7})
        email = httpx.post(f"{emu.url}/v3/mail/send", json={})
        sms = httpx.post(
            f"{emu.url}/2010-04-01/Accounts/{SID}/Messages.json",
            data={"To": "+5511999990001", "From": "+1", "Body": "x"},
            auth=(SID, TOKEN),
        )
        push = httpx.post(
            f"{emu.url}/v1/projects/p/messages:send",
            json={"message": {"token": "t"}},
            headers={"Authorization": "Bearer x"},
        )
        assert [r.status_code for r in (email, sms, push)] == [429, 429, 429]
        assert all(r.headers["retry-after"] == "7" for r in (email, sms, push))
        assert sms.json()["code"] == 20429 and push.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert email.json()["errors"][0]["message"]

    def test_dropped_connection_timeout_and_accepted_anyway(self, emu) -> None:
        """drop: the client sees a broken connection; timeout: it gives up waiting; after_accept:
        the message was recorded although the client saw an error."""
        url = f"{emu.url}/v1/projects/p/messages:send"
        auth = {"Authorization": "Bearer x"}
        httpx.post(f"{emu.url}/_emulator/faults", json={"channel": "push", "kind": "drop", "after_accept": True})
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(url, json={"message": {"token": "t1", "data": {"send_id": "d-1"}}}, headers=auth)
        assert len(httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "d-1"}).json()) == 1
        httpx.post(f"{emu.url}/_emulator/faults", json={"channel": "push", "kind": "timeout", "delay_s": 1})
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json={"message": {"token": "t2"}}, headers=auth, timeout=0.2)
        httpx.post(f"{emu.url}/_emulator/faults", json={"channel": "sms", "status": 503})
        r = httpx.post(
            f"{emu.url}/2010-04-01/Accounts/{SID}/Messages.json", data={"To": "+5511999990001"}, auth=(SID, TOKEN)
        )
        assert r.status_code == 503 and r.json()["code"] == 20503
        assert httpx.post(f"{emu.url}/_emulator/faults", json={"kind": "explode"}).status_code == 400

    def test_settings_change_rates_per_channel_and_refuse_bad_values(self, emu) -> None:
        r = httpx.post(
            f"{emu.url}/_emulator/settings", json={"sms": {"delivery_rate": 0.5}, "push": {"latency_s": 0.01}}
        )
        assert r.json()["sms"]["delivery_rate"] == 0.5 and r.json()["push"]["latency_s"] == 0.01
        assert httpx.post(f"{emu.url}/_emulator/settings", json={"email": {"open_rate": 2}}).status_code == 400
        assert httpx.post(f"{emu.url}/_emulator/settings", json={"sms": {"nope": 1}}).status_code == 400
        assert httpx.get(f"{emu.url}/_emulator/settings").json()["sms"]["delivery_rate"] == 0.5

    def test_out_of_order_and_duplicates(self, emulator_factory, receiver) -> None:
        """With out_of_order on, some message's later event is posted before its earlier one; with
        duplicates, copies carry the same event ids."""
        emu = emulator_factory(
            seed=6,
            webhook_url=receiver.url,
            webhook_out_of_order=True,
            webhook_duplicate_rate=0.5,
            webhook_batch_size=20,
            email={"open_rate": 1.0},
        )
        from ._helpers import mail_body, sg_client

        sg_client(emu).client.mail.send.post(request_body=mail_body(200))
        stats = flush(emu)
        events = receiver.events()
        ids = Counter(e["sg_event_id"] for e in events)
        assert len(ids) == stats["events_generated"] and max(ids.values()) == 2
        first_seen: dict = {}
        inverted = 0
        for position, e in enumerate(events):
            first_seen.setdefault((e["sg_message_id"], e["event"]), position)
        for (message, event), position in first_seen.items():
            if event == "open" and position < first_seen.get((message, "processed"), -1):
                inverted += 1
        assert inverted > 0
