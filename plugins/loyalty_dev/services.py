"""Start the local HTTP services (provider emulator, webhook receiver) as child processes.

Each prints one `NAME_URL=http://127.0.0.1:PORT` line once it listens on a free port, so nothing
assumes a port number.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loyalty.paths import state_dir


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    reader: threading.Thread

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)  # it ends at EOF, once the child is gone
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_service(name: str, args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 60) -> Service:
    """Run `python -m <args>` and wait for its `<NAME>_URL=` line; its stderr goes to a log file."""
    log_path = state_dir() / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=subprocess.PIPE,
            stderr=log_file,
            env={**os.environ, **(env or {})},
            text=True,
        )
    marker = f"{name.upper()}_URL="
    found: list[str] = []
    ready = threading.Event()

    def read_url_then_drain() -> None:
        """Catch the URL line, then keep reading so the child never blocks on a full pipe."""
        assert process.stdout is not None
        for line in process.stdout:
            if not found and line.startswith(marker):
                found.append(line.strip()[len(marker) :])
                ready.set()
        ready.set()

    reader = threading.Thread(target=read_url_then_drain, daemon=True)
    reader.start()
    ready.wait(timeout)
    if not found:
        process.kill()
        process.wait()
        raise RuntimeError(f"{name} did not start within {timeout:.0f}s; see {log_path}")
    return Service(name=name, url=found[0], process=process, log_path=log_path, reader=reader)
