"""``python -m loyalty_dev.emulator --port 0 --webhook-url URL --seed 42``

Prints one line ``EMULATOR_URL=http://127.0.0.1:<port>`` (flushed) once it accepts requests,
so a parent process can read where it listens. ``--config FILE`` reads a JSON object of
EmulatorConfig fields (rates nested under ``email``/``sms``/``push``); flags given override it.
Secrets may also come from the environment: ``LOYALTY_EMULATOR_TWILIO_AUTH_TOKEN``,
``LOYALTY_EMULATOR_PUSH_SECRET``.
"""

from __future__ import annotations

import argparse
import sys

from .app import serve
from .options import FLAGS, build_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loyalty_dev.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--config", default=None, help="JSON file of EmulatorConfig fields")
    for flag, (target, kind) in FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", type=kind, default=None, help=f"sets {target}")
    p.add_argument("--webhook-out-of-order", action="store_true", default=None)
    p.add_argument("--fcm-oauth", action="store_true", default=None, help="FCM accepts only tokens from /token")
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = build_config(vars(args), args.config)

    def ready(url: str) -> None:
        print(f"EMULATOR_URL={url}", flush=True)

    try:
        serve(args.host, args.port, config, on_ready=ready, log_level=args.log_level)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
