"""Install, start and stop Apache Superset with the loyalty dashboards (local use; production: docker compose).

Superset lives in its own virtualenv (`.state/superset-venv`, from the hash-pinned superset/requirements.txt;
its dependency pins clash with Airflow's), keeps SQLite metadata in `<state>/superset`, and gets the warehouse
from the same resolution as every other component. On each start the YAML bundle in superset/bundle is rendered
with the warehouse's URL, zipped and imported (overwrite by uuid), so the dashboards always match the repo.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import httpx
import yaml

from loyalty.paths import PROJECT_ROOT, state_dir

SUPERSET_DIR = PROJECT_ROOT / "superset"
BUNDLE_DIR = SUPERSET_DIR / "bundle"
REQUIREMENTS = SUPERSET_DIR / "requirements.txt"
CONFIG = SUPERSET_DIR / "superset_config.py"
BOOTSTRAP = SUPERSET_DIR / "bootstrap.py"
DEFAULT_PORT = 8088
DASHBOARDS = {  # slug → title, as in superset/bundle/dashboards
    "program-overview": "Program overview",
    "workflows": "Workflows",
    "experiment-detail": "Experiment detail",
    "data-quality": "Data quality",
}


def venv_dir() -> Path:
    """Shared by every state folder (like .venv): `LOYALTY_SUPERSET_VENV` or `.state/superset-venv`."""
    return Path(os.environ.get("LOYALTY_SUPERSET_VENV", PROJECT_ROOT / ".state" / "superset-venv"))


def home_dir() -> Path:
    path = state_dir() / "superset"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _uv() -> str:
    for candidate in (os.environ.get("LOYALTY_UV"), str(PROJECT_ROOT / ".state" / "bootstrap" / "bin" / "uv")):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv not found: run `make install` (it bootstraps uv into .state/bootstrap) or install uv")
    return found


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(progress: Callable[[str], None] = print) -> Path:
    """Create or update Superset's virtualenv from superset/requirements.txt (idempotent; ~20 s the first time)."""
    venv = venv_dir()
    stamp = venv / ".requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    with _locked(venv.parent / ".superset-venv.lock"):
        if stamp.exists() and stamp.read_text() == digest and (venv / "bin" / "superset").exists():
            return venv
        progress(f"installing Apache Superset into {venv} (pinned by {REQUIREMENTS.relative_to(PROJECT_ROOT)})")
        env = {
            **os.environ,
            "UV_SYSTEM_CERTS": "true",  # a TLS-inspecting proxy's CA lives in the system store
            "UV_COMPILE_BYTECODE": "1",  # imports stay ~2x slower without bytecode here
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_LINK_MODE": "copy",
            "VIRTUAL_ENV": str(venv),
        }
        env.pop("UV_PROJECT_ENVIRONMENT", None)
        uv = _uv()
        if not (venv / "bin" / "python").exists():
            subprocess.run([uv, "venv", "--quiet", "--python", "python3.11", str(venv)], env=env, check=True)
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--require-hashes", "-r", str(REQUIREMENTS)], env=env, check=True
        )
        stamp.write_text(digest)
    return venv


def superset_uri(warehouse_url: str) -> str:
    """The warehouse URL as SQLAlchemy wants it (psycopg2 driver; the unix-socket `?host=` form kept)."""
    parsed = urlparse(warehouse_url)
    if parsed.scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise ValueError(f"not a postgresql:// URL: {parsed.scheme!r}")
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    return urlunparse(parsed._replace(scheme="postgresql+psycopg2", query=urlencode(query, safe="/")))


def bundle_zip(warehouse_url: str, destination: Path) -> Path:
    """superset/bundle as an importable ZIP, its database pointed at the given warehouse."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(BUNDLE_DIR.rglob("*.yaml")):
            relative = path.relative_to(BUNDLE_DIR)
            text = path.read_text()
            if relative.parts[0] == "databases":
                document = yaml.safe_load(text)
                document["sqlalchemy_uri"] = superset_uri(warehouse_url)
                text = yaml.safe_dump(document, sort_keys=False)
            archive.writestr(f"loyalty_bundle/{relative}", text)
    return destination


@dataclass
class Superset:
    url: str
    pid: int
    log_path: Path

    def dashboard_url(self, slug: str) -> str:
        return f"{self.url}/superset/dashboard/{slug}/"


def _env(public: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "LOYALTY_SUPERSET_HOME": str(home_dir()),
        "LOYALTY_SUPERSET_PUBLIC": "1" if public else "",
        "PYTHONDONTWRITEBYTECODE": "1",
        "SUPERSET_LOAD_EXAMPLES": "no",
    }
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):  # never leak the project's venv into Superset's
        env.pop(name, None)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # the servers this process started: reaped by stop()


def _pid_file() -> Path:
    return home_dir() / "superset.pid"


def running() -> Superset | None:
    """The Superset this state folder started, if its process is alive."""
    path = _pid_file()
    if not path.exists():
        return None
    pid_text, url = path.read_text().split()
    pid = int(pid_text)
    child = _CHILDREN.get(pid)
    try:
        if child is not None and child.poll() is not None:  # our own child exited (a zombie until reaped)
            raise ProcessLookupError
        os.kill(pid, 0)
    except ProcessLookupError:
        _CHILDREN.pop(pid, None)
        path.unlink(missing_ok=True)
        return None
    return Superset(url=url, pid=pid, log_path=home_dir() / "superset.log")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def start(
    warehouse_url: str,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    public: bool = True,
    progress: Callable[[str], None] = print,
    timeout: float = 180,
) -> Superset:
    """Install if needed, migrate the metadata, import the bundle, start gunicorn and wait until it answers."""
    if (current := running()) is not None:
        raise RuntimeError(f"Superset already runs at {current.url} (pid {current.pid}); `loyalty dashboards stop`")
    if port and not _port_free(host, port):
        raise RuntimeError(f"port {port} is in use: pass another --port, or 0 for a free one")
    venv = install(progress)
    home = home_dir()
    env = _env(public)
    log_path = home / "superset.log"
    with log_path.open("ab") as log:
        progress("importing the dashboards bundle (superset/bundle) into Superset's metadata")
        bundle = bundle_zip(warehouse_url, home / "bundle.zip")
        bootstrap = subprocess.run(
            [str(venv / "bin" / "python"), str(BOOTSTRAP), str(bundle)],
            env=env,
            check=False,
            stdout=log,
            stderr=log,
            cwd=home,
        )
        if bootstrap.returncode != 0:
            raise RuntimeError(f"Superset's bootstrap (migrate, import the bundle) failed; see {log_path}")
        port = port or _free_port()
        process = subprocess.Popen(
            [
                str(venv / "bin" / "gunicorn"),
                "--bind",
                f"{host}:{port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--timeout",
                "120",
                "superset.app:create_app()",
            ],
            env=env,
            stdout=log,
            stderr=log,
            cwd=home,
            start_new_session=True,  # Ctrl-C in the terminal reaches us; we stop it in order
        )
    _CHILDREN[process.pid] = process
    url = f"http://{'127.0.0.1' if host in {'0.0.0.0', '127.0.0.1'} else host}:{port}"  # noqa: S104
    _pid_file().write_text(f"{process.pid} {url}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            _pid_file().unlink(missing_ok=True)
            raise RuntimeError(f"Superset exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return Superset(url=url, pid=process.pid, log_path=log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop()
    raise RuntimeError(f"Superset did not answer within {timeout:.0f}s; see {log_path}")


def stop(timeout: float = 20) -> bool:
    """Stop the Superset this state folder started (gunicorn's arbiter and its worker); True when one ran."""
    current = running()
    if current is None:
        return False
    os.killpg(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    child = _CHILDREN.pop(current.pid, None)
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()  # reap it when this process started it
        try:
            os.killpg(current.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(current.pid, signal.SIGKILL)
    if child is not None:
        child.wait()
    _pid_file().unlink(missing_ok=True)
    return True
