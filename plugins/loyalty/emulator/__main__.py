"""``python -m loyalty.emulator --port 0 --webhook-url URL --seed 42``

Prints one line ``EMULATOR_URL=http://127.0.0.1:<port>`` (flushed) once it accepts requests,
so a parent process can read where it listens.
"""

from __future__ import annotations

import argparse
import sys

from .app import serve
from .config import EmailRates, EmulatorConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loyalty.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--webhook-url", default=None)
    p.add_argument("--api-key", default=None, help="require Authorization: Bearer <key>")
    p.add_argument("--private-key", default=None, help="PEM file with an ECDSA P-256 private key")
    p.add_argument("--delivery-rate", type=float, default=0.97)
    p.add_argument("--open-rate", type=float, default=0.35)
    p.add_argument("--click-rate", type=float, default=0.25)
    p.add_argument("--webhook-batch-size", type=int, default=500)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = EmulatorConfig(
        seed=args.seed,
        webhook_url=args.webhook_url,
        email=EmailRates(args.delivery_rate, args.open_rate, args.click_rate),
        webhook_batch_size=args.webhook_batch_size,
        api_key=args.api_key,
        private_key_path=args.private_key,
    )

    def ready(url: str) -> None:
        print(f"EMULATOR_URL={url}", flush=True)

    try:
        serve(args.host, args.port, config, on_ready=ready, log_level=args.log_level)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
