"""FCM HTTP v1 with a service account: google-auth mints the OAuth 2 token from the emulator's service account key,
refreshes it before it expires, and the emulator accepts only the tokens it minted, as FCM does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loyalty.channels.base import Message
from loyalty.channels.fcm_push import FcmPush, ServiceAccountBearer
from loyalty.orchestration import connections
from loyalty_dev.services import Service, start_service

pytestmark = pytest.mark.integration
LIFETIME_S = 230  # google-auth refreshes 3 min 45 s before expiry: such a token is fresh for 5 s


@pytest.fixture(scope="module")
def fcm() -> Iterator[Service]:
    args = ["loyalty_dev.emulator", "--port", "0", "--seed", "3", "--fcm-oauth", "--push-bounce-rate", "0"]
    service = start_service("emulator", [*args, "--fcm-token-lifetime", str(LIFETIME_S)])
    yield service
    service.stop()


def key_file(fcm: Service) -> dict:
    return httpx.get(f"{fcm.url}/_emulator/fcm/service_account", timeout=10).json()


def messages(count: int, start: int = 0) -> list[Message]:
    return [Message(f"push-{n}", f"device-{n}", "Hi", "Your points expire soon") for n in range(start, start + count)]


class TestServiceAccount:
    def test_tokens_are_minted_refreshed_and_required(self, fcm: Service) -> None:
        """Sends before and after the token falls due: all accepted, and a second token was minted in between
        (the library refreshed it, nobody passed one in); a token FCM did not mint is refused (401)."""
        auth = ServiceAccountBearer.from_info(key_file(fcm))
        push = FcmPush("loyalty-emulator", host=fcm.url, auth=auth, concurrency=4)
        try:
            first = push.deliver(messages(10), ["loyalty"])
            first_token = auth.credentials.token
            time.sleep(LIFETIME_S - 225 + 1)  # past google-auth's refresh threshold
            second = push.deliver(messages(10, start=10), ["loyalty"])
        finally:
            push.close()
        assert {o.status for o in first + second} == {"sent"}
        assert auth.credentials.token != first_token and auth.credentials.token.startswith("ya29.emulator.")
        stranger = httpx.post(
            f"{fcm.url}/v1/projects/loyalty-emulator/messages:send",
            json={"message": {"token": "device-x", "notification": {"title": "Hi"}}},
            headers={"Authorization": "Bearer ya29.made-up"},
            timeout=10,
        )
        assert stranger.status_code == 401 and stranger.json()["error"]["status"] == "UNAUTHENTICATED"

    def test_a_revoked_token_is_refreshed_once_and_the_message_resent(self, fcm: Service) -> None:
        """FCM answers 401 to a token revoked before its expiry: the channel mints a new one and resends that
        request once, so the message is sent (not failed, not sent twice)."""
        auth = ServiceAccountBearer.from_info(key_file(fcm))
        push = FcmPush("loyalty-emulator", host=fcm.url, auth=auth, concurrency=1)
        try:
            assert [o.status for o in push.deliver(messages(1, start=300), ["loyalty"])] == ["sent"]
            revoked = auth.credentials.token
            assert httpx.post(f"{fcm.url}/_emulator/fcm/revoke", timeout=10).json()["revoked"] >= 1
            assert [o.status for o in push.deliver(messages(1, start=301), ["loyalty"])] == ["sent"]
        finally:
            push.close()
        assert auth.credentials.token != revoked
        requests = httpx.get(f"{fcm.url}/_emulator/requests", params={"channel": "push"}, timeout=10).json()
        statuses = [r["status"] for r in requests if r["path"].endswith("messages:send")][-3:]
        assert statuses == [200, 401, 200]
        sent = httpx.get(f"{fcm.url}/_emulator/messages", params={"send_id": "push-301"}, timeout=10).json()
        assert len(sent) == 1

    def test_a_key_the_token_endpoint_refuses_sends_nothing_and_leaves_rows_pending(self, fcm: Service) -> None:
        """A service account key that is not the project's: the token cannot be minted, so no message was
        sent: the outcome is `pending` (the ledger requeues it), never `sending` or `failed`."""
        forged = dict(key_file(fcm))
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged["private_key"] = other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        push = FcmPush("loyalty-emulator", host=fcm.url, auth=ServiceAccountBearer.from_info(forged), attempts=2)
        try:
            outcomes = push.deliver(messages(3, start=100), ["loyalty"])
        finally:
            push.close()
        assert {o.status for o in outcomes} == {"pending"}
        assert all("OAuth token" in (o.reason or "") and "Invalid JWT Signature" in (o.reason or "") for o in outcomes)
        sent = httpx.get(f"{fcm.url}/_emulator/messages", params={"channel": "push"}, timeout=10).json()
        assert not {m["send_id"] for m in sent} & {"push-100", "push-101", "push-102"}

    def test_the_airflow_connection_takes_the_service_account(
        self, fcm: Service, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`loyalty_fcm` with extra.service_account (the JSON key as text): the push sender mints its own
        tokens, and the project id comes from the key."""
        connection = {"conn_type": "http", "host": fcm.url, "extra": {"service_account": json.dumps(key_file(fcm))}}
        monkeypatch.setenv("AIRFLOW_CONN_LOYALTY_FCM", json.dumps(connection))
        push = connections.push_sender()
        try:
            assert isinstance(push.client.auth, ServiceAccountBearer)
            assert push.path == "/v1/projects/loyalty-emulator/messages:send"
            assert {o.status for o in push.deliver(messages(2, start=200), ["loyalty"])} == {"sent"}
        finally:
            push.close()
