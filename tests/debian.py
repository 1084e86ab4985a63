"""Debian packages some tests need (chromium, docker-compose), installed with apt-get when missing and root."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def ensure_packages(packages: list[str], provides: list[Path]) -> str | None:
    """Install `packages` unless every path of `provides` exists; None when ready, else why not (a skip reason)."""
    if all(path.exists() for path in provides):
        return None
    wanted = " ".join(packages)
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return f"{wanted} missing and apt-get is unavailable or not root: apt-get install {wanted}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", *packages]
    # pytest-xdist workers may install at the same moment: one apt-get at a time, the other then finds it done.
    with open(Path(tempfile.gettempdir()) / "loyalty-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(path.exists() for path in provides):
            return None
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:  # a stale package index: refresh once and retry
            subprocess.run([apt, "update", "-q"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not all(path.exists() for path in provides):
        return f"apt-get install {wanted} failed: {result.stderr.strip()[-400:]}"
    return None
