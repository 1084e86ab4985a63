"""The webhook receiver: only correctly signed, fresh SendGrid batches reach raw.message_events,
and a provider's retry of the same batch stores nothing twice."""

from __future__ import annotations

import base64
import json
import time

import psycopg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from loyalty.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, ReceiverConfig, create_app

pytestmark = pytest.mark.integration

PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def _signed(body: bytes, timestamp: int | None = None, key: ec.EllipticCurvePrivateKey = PRIVATE_KEY) -> dict:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}


def _events(count: int = 3) -> bytes:
    return json.dumps(
        [
            {
                "email": f"customer{i}@example.com",
                "timestamp": 1780300800 + i,
                "event": "delivered",
                "sg_event_id": f"evt-{i}",
                "sg_message_id": f"msg-{i}.recvd-0",
                "send_id": f"send-{i}",
            }
            for i in range(count)
        ]
    ).encode()


def _stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select event_id, send_id, event_type from raw.message_events order by 1").fetchall()


@pytest.fixture
def client(clean_warehouse: str) -> TestClient:
    return TestClient(create_app(ReceiverConfig(warehouse_url=clean_warehouse, sendgrid_public_key=PUBLIC_KEY)))


class TestSendGridWebhook:
    def test_signed_batch_is_stored_once(self, client: TestClient, clean_warehouse: str) -> None:
        """A valid batch is stored with send ids; the provider's retry of it adds nothing."""
        body = _events(3)
        first = client.post("/webhooks/sendgrid", content=body, headers=_signed(body))
        retry = client.post("/webhooks/sendgrid", content=body, headers=_signed(body))
        assert first.status_code == 200 and first.json() == {"received": 3, "stored": 3}
        assert retry.status_code == 200 and retry.json() == {"received": 3, "stored": 0}
        assert _stored(clean_warehouse) == [(f"evt-{i}", f"send-{i}", "delivered") for i in range(3)]

    @pytest.mark.parametrize(
        ("mutate", "status", "reason"),
        [
            (lambda body, headers: (body + b" ", headers), 403, "signature"),
            (lambda body, headers: (body, {}), 401, "missing"),
            (lambda body, headers: (body, {**headers, SIGNATURE_HEADER: "not-base64!"}), 403, "signature"),
            (
                lambda body, headers: (body, _signed(body, key=ec.generate_private_key(ec.SECP256R1()))),
                403,
                "signature",
            ),
            (lambda body, headers: (body, _signed(body, timestamp=int(time.time()) - 3600)), 401, "replay"),
        ],
        ids=["tampered-body", "no-headers", "garbage-signature", "wrong-key", "stale-timestamp"],
    )
    def test_forged_or_stale_batches_are_refused(
        self, client: TestClient, clean_warehouse: str, mutate, status: int, reason: str
    ) -> None:
        """Anything not signed by the provider's key, or replayed late, gets a 4xx and stores nothing."""
        body = _events(2)
        sent_body, headers = mutate(body, _signed(body))
        response = client.post("/webhooks/sendgrid", content=sent_body, headers=headers)
        assert response.status_code == status
        assert reason in response.json()["error"]
        assert _stored(clean_warehouse) == []

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"{not json", "not JSON"),
            (b'{"event": "open"}', "JSON array"),
            (b'[{"event": "open", "timestamp": 1}]', "event 0 lacks sg_event_id"),
            (b'[{"event": "open", "timestamp": "x", "sg_event_id": "e"}]', "timestamp must be a number"),
        ],
    )
    def test_malformed_signed_payload_is_refused(
        self, client: TestClient, clean_warehouse: str, body: bytes, reason: str
    ) -> None:
        """A signed but malformed batch gets a 400 naming what is wrong; nothing is stored."""
        response = client.post("/webhooks/sendgrid", content=body, headers=_signed(body))
        assert response.status_code == 400
        assert reason in response.json()["error"]
        assert _stored(clean_warehouse) == []

    def test_oversized_body_is_refused(self, clean_warehouse: str) -> None:
        """Bodies over the cap are refused before any parsing."""
        app = create_app(ReceiverConfig(clean_warehouse, PUBLIC_KEY, max_body_bytes=100))
        body = _events(5)
        response = TestClient(app).post("/webhooks/sendgrid", content=body, headers=_signed(body))
        assert response.status_code == 413

    def test_health(self, client: TestClient) -> None:
        """The health endpoint answers without touching the warehouse."""
        assert client.get("/health").json() == {"status": "ok"}
