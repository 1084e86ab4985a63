"""Signed webhook events ingested per second, end to end, next to a bare COPY as the floor.

    .venv/bin/python bench/webhook_ingest.py [--events 50000] [--batch 1000] [--clients 4] [--workers 1]
        [--results PATH]

Starts the real receiver (`loyalty webhooks`, uvicorn) as a child process against the warehouse
(LOYALTY_WAREHOUSE_URL, or a throwaway embedded Postgres), posts SendGrid Event Webhook batches
signed with ECDSA P-256 from a few concurrent clients, and counts events per second from the
first post to the last 200 (each 200 means verified + stored + committed). The floor is a COPY
of the same rows into an unindexed copy of raw.message_events over one connection: what
Postgres alone takes to take the bytes in. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import results

ROOT = Path(__file__).resolve().parents[1]


def make_batches(n_events: int, batch: int, run: str) -> list[bytes]:
    """SendGrid-shaped events (processed/delivered/open/click), ~300 bytes each, as JSON bodies."""
    kinds = ("processed", "delivered", "open", "click")
    events = [
        {
            "email": f"customer{i // 4}@example.com",
            "timestamp": 1780300800 + i,
            "event": kinds[i % 4],
            "sg_event_id": f"{run}-{i}",
            "sg_message_id": f"{run}-msg-{i // 4}.recvd-0",
            "smtp-id": f"<{run}-{i // 4}@emulator.sendgrid.local>",
            "category": ["win_back"],
            "send_id": f"{run}-send-{i // 4}",
            "workflow": "win_back",
        }
        for i in range(n_events)
    ]
    return [json.dumps(events[k : k + batch], separators=(",", ":")).encode() for k in range(0, n_events, batch)]


def sign(key: ec.EllipticCurvePrivateKey, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = base64.b64encode(key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }


def start_receiver(url: str, public_key: str, workers: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "LOYALTY_WAREHOUSE_URL": url, "LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY": public_key}
    cmd = [sys.executable, "-m", "loyalty.cli", "webhooks", "--port", "0", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("WEBHOOKS_URL="):
        proc.kill()
        raise RuntimeError(f"receiver did not start: {line!r}")
    base = line.split("=", 1)[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("receiver not ready")


def receiver_rate(url: str, batches: list[bytes], key, clients: int, workers: int, public_key: str) -> float:
    proc, base = start_receiver(url, public_key, workers)
    try:
        signed = [(body, sign(key, body)) for body in batches]  # signing is the provider's cost
        n_events = sum(body.count(b'"sg_event_id"') for body in batches)

        def post(part: list[tuple[bytes, dict]]) -> None:
            with httpx.Client(timeout=60) as client:
                for body, headers in part:
                    response = client.post(f"{base}/webhooks/sendgrid", content=body, headers=headers)
                    assert response.status_code == 200, response.text

        parts = [signed[k::clients] for k in range(clients)]
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, parts))
        return n_events / (time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(20)


def copy_rate(url: str, batches: list[bytes]) -> float:
    """The floor: COPY the same rows (already parsed, timestamps converted) into a bare table."""
    rows = []
    for body in batches:
        for e in json.loads(body):
            occurred = dt.datetime.fromtimestamp(e["timestamp"], dt.UTC)
            rows.append(
                (e["sg_event_id"], "sendgrid", e["send_id"], e["sg_message_id"], e["event"], occurred, json.dumps(e))
            )
    with psycopg.connect(url) as conn:
        conn.execute("create temp table floor (like raw.message_events including defaults)")
        started = time.perf_counter()
        with conn.cursor().copy(
            "copy floor (event_id, provider, send_id, provider_message_id, event_type, occurred_at, payload) from stdin"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    results.add_argument(parser)
    args = parser.parse_args()

    server = None
    url = os.environ.get("LOYALTY_WAREHOUSE_URL", "").strip()
    if not url:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp()) / "pg", cleanup_mode="stop")
        url = server.get_uri()
    sys.path.insert(0, str(ROOT / "plugins"))
    from loyalty.warehouse import init_schema

    init_schema(url)
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    run = f"bench{int(time.time())}"
    batches = make_batches(args.events, args.batch, run)
    try:
        floor = copy_rate(url, batches)
        receiver = receiver_rate(url, batches, key, args.clients, args.workers, public_key)
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("delete from raw.message_events where event_id like %s", [f"{run}-%"])
        if server is not None:
            server.cleanup()
    print(f"events: {args.events}, batch: {args.batch}, clients: {args.clients}, receiver workers: {args.workers}")
    print(f"floor  bare COPY into Postgres        {floor:>10,.0f} events/s")
    print(f"end to end  verify + store (receiver) {receiver:>10,.0f} events/s  ({receiver / floor:.0%} of the floor)")
    figure = f"webhook events end to end, {args.workers} worker(s); ratio ours/bare COPY, higher is better"
    results.Recorder(args.results, "webhook_ingest")(figure, receiver, floor, "events/s", receiver / floor)


if __name__ == "__main__":
    main()
