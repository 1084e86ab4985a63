"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

`docker-compose config` (Debian's docker-compose 1.29, which needs no engine; installed with apt-get when missing)
renders the file with each committed env example, as a deployment would with its own `.env`. On that rendering:
every command of a service built from the project image names a console script of the installed distributions (or
a file the Dockerfile puts in the image) and its subcommand and options answer `--help` in the project's .venv with
the service's own environment; and the structural promises of the stack hold (health checks, named volumes, logins
required, the emulator only in the `local` profile, the CeleryExecutor, secrets only from the env file, a frozen
install).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from loyalty.paths import PROJECT_ROOT

from ..debian import ensure_packages

DOCKER_COMPOSE = Path("/usr/bin/docker-compose")
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DEPLOY = PROJECT_ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
EXAMPLES = {
    "local": (DEPLOY / "local.env.example", ["--profile", "local"]),
    "production": (DEPLOY / "production.env.example", []),
}
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
ONE_SHOT = {"airflow-init"}  # runs to completion before the others start: no health check
STATEFUL = {
    "warehouse": "/var/lib/postgresql/data",
    "airflow-metadata": "/var/lib/postgresql/data",
    "bi-metadata": "/var/lib/postgresql/data",
    "redis": "/data",
}
SECRET_NAME = re.compile(r"(PASSWORDS?|SECRET|TOKEN|_KEY)$|^AIRFLOW_CONN_")
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]*@")


def docker_compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    """docker-compose with only the env file given: the caller's environment (and any real .env) stays out."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    command = [str(DOCKER_COMPOSE), "--file", str(COMPOSE_FILE), "--env-file", str(env_file), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def compose_available() -> None:
    why_not = ensure_packages(["docker-compose"], [DOCKER_COMPOSE])
    if why_not:
        pytest.skip(f"docker-compose unavailable: {why_not}")


def render(example: str) -> dict[str, Any]:
    """The stack as `docker-compose config` renders it with one env example (and its profile)."""
    env_file, profile = EXAMPLES[example]
    result = docker_compose(*profile, "config", env_file=env_file)
    assert result.returncode == 0, f"docker-compose config with {env_file.name} failed:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    config["example"] = example
    return config


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def rendered(request: pytest.FixtureRequest, compose_available: None) -> dict[str, Any]:
    return render(request.param)


def services(config: dict[str, Any], local: bool = True) -> dict[str, dict[str, Any]]:
    """The services, without those of the `local` profile unless asked."""
    return {
        name: service
        for name, service in config["services"].items()
        if local or "local" not in service.get("profiles", [])
    }


def from_project_image(service: dict[str, Any]) -> bool:
    build = service.get("build") or {}
    return Path(build.get("context", "/nonexistent")) == PROJECT_ROOT and build.get("dockerfile") == "Dockerfile"


def argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else list(value)


def console_scripts() -> set[str]:
    return {entry.name for entry in entry_points(group="console_scripts")}


def dockerfile_files() -> dict[str, Path]:
    """Executables the Dockerfile copies into the image: name in the image -> source in the repo."""
    provided = {}
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "COPY" and words[2].startswith("/usr/local/bin/"):
            provided[Path(words[2]).name] = PROJECT_ROOT / words[1]
    return provided


def run_help(
    command: list[str], service_env: dict[str, str], tmp_path: Path, with_help: bool = True
) -> subprocess.CompletedProcess[str]:
    """`<command> --help` in the project's .venv with the service's environment (its paths are the image's)."""
    env = {
        **{key: str(value) for key, value in service_env.items()},
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "LOYALTY_STATE_DIR": str(tmp_path / "state"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    executable = VENV_BIN / command[0]
    return subprocess.run(
        [str(executable), *command[1:], *(["--help"] if with_help else [])],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


class TestComposeFile:
    def test_each_example_renders_the_whole_stack(self, rendered: dict[str, Any]) -> None:
        """Both env examples validate and bring every part of the stack; the emulator is there only as `local`."""
        expected = {"warehouse", "airflow-metadata", "redis", *AIRFLOW_SERVICES, "webhooks", "bi-metadata", "bi"}
        assert set(services(rendered, local=False)) == expected
        assert rendered["services"]["emulator"]["profiles"] == ["local"]

    def test_a_missing_secret_is_named(self, compose_available: None, tmp_path: Path) -> None:
        """An env file without a required secret stops `docker-compose config` with that variable's name."""
        lines = (DEPLOY / "production.env.example").read_text().splitlines()
        env_file = tmp_path / "partial.env"
        env_file.write_text("\n".join(line for line in lines if not line.startswith("AIRFLOW_JWT_SECRET=")))
        result = docker_compose("config", env_file=env_file)
        assert result.returncode != 0
        assert "set AIRFLOW_JWT_SECRET" in result.stderr

    def test_every_long_running_service_has_a_health_check(self, rendered: dict[str, Any]) -> None:
        for name, service in services(rendered).items():
            if name in ONE_SHOT:
                assert service["restart"] == "no", f"{name} is a one-shot service and must not restart"
                continue
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
            assert service.get("restart") == "unless-stopped", f"{name} is not restarted"

    def test_databases_and_redis_keep_their_data_in_named_volumes(self, rendered: dict[str, Any]) -> None:
        for name, target in STATEFUL.items():
            mounts = [mount.split(":") for mount in rendered["services"][name].get("volumes", [])]  # source:target:mode
            named = [source for source, mounted, *_ in mounts if mounted == target and source in rendered["volumes"]]
            assert named, f"{name} keeps {target} outside a named volume: {mounts}"

    def test_services_wait_for_what_they_need(self, rendered: dict[str, Any]) -> None:
        """Airflow starts after its metadata, the broker and the one-shot init; workers after the api-server."""
        for name in AIRFLOW_SERVICES - ONE_SHOT:
            depends = rendered["services"][name]["depends_on"]
            assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
            assert depends["airflow-metadata"]["condition"] == "service_healthy", name
            assert depends["redis"]["condition"] == "service_healthy", name
        assert rendered["services"]["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == (
            "service_healthy"
        )

    def test_logins_are_required_outside_the_local_profile(self, rendered: dict[str, Any]) -> None:
        """Airflow's auth manager is on in every Airflow service and nobody is an admin without logging in."""
        for name in AIRFLOW_SERVICES:
            env = rendered["services"][name]["environment"]
            assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager"), name
            assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"], name
        for name, service in services(rendered, local=False).items():
            all_admins = str(service.get("environment", {}).get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", ""))
            assert all_admins.lower() not in {"true", "1", "yes"}, f"{name} makes everyone an admin"
        assert "LOYALTY_SUPERSET_PUBLIC" not in rendered["services"]["bi"]["environment"]

    def test_the_emulator_is_development_only(self, rendered: dict[str, Any]) -> None:
        """No service outside `local` runs dev tooling; the production example's channels talk to the providers."""
        for name, service in services(rendered, local=False).items():
            assert "loyalty-dev" not in argv(service.get("command")), name
        if rendered["example"] == "production":
            for name in AIRFLOW_SERVICES:
                env = rendered["services"][name]["environment"]
                for conn in ("SENDGRID", "TWILIO", "FCM"):
                    assert "emulator" not in env[f"AIRFLOW_CONN_LOYALTY_{conn}"], f"{name}: {conn} points at it"

    def test_airflow_runs_the_celery_executor_through_the_execution_api(self, rendered: dict[str, Any]) -> None:
        envs = {name: rendered["services"][name]["environment"] for name in AIRFLOW_SERVICES}
        for name, env in envs.items():
            assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
            assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/"), name
            assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
            assert "@airflow-metadata:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        for shared in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
            values = {env[shared] for env in envs.values()}
            assert len(values) == 1 and all(values), f"{shared} differs between Airflow services: {values}"
        assert argv(rendered["services"]["airflow-worker"]["command"]) == ["airflow", "celery", "worker"]
        assert rendered["services"]["airflow-worker"]["stop_grace_period"] == "10m"  # warm shutdown: batches finish

    def test_bi_is_superset_with_logins_and_its_own_metadata(self, rendered: dict[str, Any]) -> None:
        """The `bi` service (superset/Dockerfile, once superset/docker-compose.yml): Postgres metadata, the Redis
        cache, a secret key and an admin password from the env file, no public role, after its metadata is up."""
        bi = rendered["services"]["bi"]
        assert Path(bi["build"]["context"]) == PROJECT_ROOT / "superset"
        env = bi["environment"]
        assert env["SUPERSET_METADATA_URL"].startswith("postgresql+psycopg2://superset:")
        assert env["SUPERSET_METADATA_URL"].endswith("@bi-metadata:5432/superset")
        assert env["SUPERSET_REDIS_URL"].startswith("redis://redis:6379/")
        assert (
            env["SUPERSET_REDIS_URL"]
            != rendered["services"]["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"]
        )
        assert env["SUPERSET_SECRET_KEY"] and env["SUPERSET_ADMIN_PASSWORD"]
        assert env["LOYALTY_WAREHOUSE_SQLALCHEMY_URI"].startswith("postgresql+psycopg2://")
        assert bi["depends_on"]["bi-metadata"]["condition"] == "service_healthy"
        raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["bi"]["environment"]
        assert ":?" in raw["SUPERSET_SECRET_KEY"] and ":?" in raw["SUPERSET_ADMIN_PASSWORD"]  # required, no default
        assert not (PROJECT_ROOT / "superset" / "docker-compose.yml").exists()  # one compose file

    def test_secrets_come_only_from_the_env_file(self) -> None:
        """In docker-compose.yml itself every secret (by name, or a password in a URL) is interpolated from the
        env file, never written down; the real env files are git-ignored."""
        raw = yaml.safe_load(COMPOSE_FILE.read_text())
        literal = []
        for name, service in raw["services"].items():
            for key, value in (service.get("environment") or {}).items():
                secret = SECRET_NAME.search(key) or CREDENTIALS_IN_URL.search(str(value))
                if secret and "${" not in str(value):
                    literal.append(f"{name}: {key}={value}")
        assert literal == []
        ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
        assert {"/.env", "deploy/*.env", "deploy/secrets/*"} <= set(ignored)

    def test_the_local_example_wires_the_emulator_and_the_receiver(self, compose_available: None) -> None:
        """As rendered: the receiver trusts the emulator's webhook key and Twilio token, Airflow's channels use the
        emulator's API key, and every Airflow user has a password."""
        from loyalty_dev.emulator.config import load_private_key, public_key_b64

        local = render("local")["services"]
        emulator = dict(arg.removeprefix("--").split("=", 1) for arg in argv(local["emulator"]["command"])[2:])
        settings = json.loads((DEPLOY / "local" / "emulator.json").read_text())
        key_file = DEPLOY / "local" / Path(settings["private_key_path"]).name
        assert emulator["config"] == "/app/deploy/local/emulator.json"
        assert settings["private_key_path"] == f"/app/deploy/local/{key_file.name}"
        receiver, airflow = local["webhooks"]["environment"], local["airflow-init"]["environment"]
        assert public_key_b64(load_private_key(key_file)) == receiver["LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY"]
        twilio_token = local["emulator"]["environment"]["LOYALTY_EMULATOR_TWILIO_AUTH_TOKEN"]
        assert json.loads(airflow["AIRFLOW_CONN_LOYALTY_TWILIO"])["password"] == twilio_token
        assert receiver["LOYALTY_TWILIO_AUTH_TOKEN"] == twilio_token
        assert json.loads(airflow["AIRFLOW_CONN_LOYALTY_SENDGRID"])["password"] == emulator["api-key"]
        assert emulator["webhook-url"].startswith("http://webhooks:8090/")
        users = {user.split(":")[0] for user in airflow["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")}
        assert users <= set(json.loads(airflow["AIRFLOW_PASSWORDS"]))


class TestImage:
    def test_the_image_installs_the_lock_frozen(self) -> None:
        """The Dockerfile installs with `uv sync --frozen --no-dev` using the Makefile's uv, and nothing else."""
        dockerfile = DOCKERFILE.read_text()
        syncs = re.findall(r"uv sync ([^\n\\&]*)", dockerfile)
        assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
        assert "--no-editable" not in dockerfile  # loyalty.paths finds dags/ and dbt_project/ beside plugins/
        make_uv = re.search(r"^UV_VERSION := (\S+)$", (PROJECT_ROOT / "Makefile").read_text(), re.M)
        image_uv = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.M)
        assert make_uv and image_uv and make_uv.group(1) == image_uv.group(1)
        assert re.findall(r"pip install (.*)", dockerfile) == ['"uv==${UV_VERSION}" \\']
        ignored = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        assert {".venv", ".state", ".env"} <= set(ignored)

    def test_every_command_exists_in_the_image(self, compose_available: None, tmp_path: Path) -> None:
        """Each project-image service's command is a console script or a file the Dockerfile provides, and it
        (with its subcommand and options) answers --help with the service's environment. The local rendering has
        every service; the production one runs the same commands."""
        local, production = render("local")["services"], render("production")["services"]
        for name, service in production.items():
            assert argv(service.get("command")) == argv(local[name].get("command")), name
        scripts, provided = console_scripts(), dockerfile_files()
        checked = []
        for name, service in local.items():
            if not from_project_image(service):
                continue
            command = [*argv(service.get("entrypoint")), *argv(service.get("command"))]
            assert command, f"{name} has no command"
            if command[0] in provided:
                source = provided[command[0]]
                assert source.is_file() and os.access(source, os.X_OK), f"{name}: {source} is not executable"
                assert subprocess.run(["/bin/sh", "-n", str(source)], check=False).returncode == 0
                continue
            assert command[0] in scripts, f"{name}: {command[0]} is not a console script of the image"
            result = run_help(command, service.get("environment", {}), tmp_path)
            assert result.returncode == 0, f"{name}: {' '.join(command)} --help failed:\n{result.stderr[-1500:]}"
            assert "usage" in result.stdout.lower(), result.stdout[:500]
            checked.append(name)
        assert {"airflow-apiserver", "airflow-worker", "webhooks"} <= set(checked)

    def test_the_configured_executor_loads(self, compose_available: None, tmp_path: Path) -> None:
        """With the worker's environment the CeleryExecutor and its Celery app import (`--help` does not import them:
        celery 5.7 broke the provider's import while every `--help` still answered)."""
        env = render("local")["services"]["airflow-worker"]["environment"]
        code = (
            "from airflow.executors.executor_loader import ExecutorLoader\n"
            "from airflow.providers.celery.executors.celery_executor import app\n"
            "print(ExecutorLoader.import_default_executor_cls()[0].__name__, app.main)"
        )
        result = run_help(["python", "-c", code], env, tmp_path, with_help=False)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1].split()[0] == "CeleryExecutor"

    def test_the_init_script_calls_existing_commands(self, tmp_path: Path) -> None:
        """Every `airflow ...` and `loyalty ...` line of the image's init script names a real subcommand."""
        (script,) = dockerfile_files().values()
        calls = re.findall(r"^\s*((?:airflow|loyalty) [a-z][a-z -]*?)(?= \"|$)", script.read_text(), re.M)
        assert {"airflow db migrate", "airflow pools set", "loyalty warehouse upgrade"} <= set(calls)
        for call in calls:
            result = run_help(call.split(), {}, tmp_path)
            assert result.returncode == 0, f"{call} --help failed:\n{result.stderr[-1500:]}"

    def test_health_checks_run_what_the_image_has(self, rendered: dict[str, Any]) -> None:
        """Project-image health checks call programs of the image's venv (no curl in a slim image)."""
        for name, service in services(rendered).items():
            if not from_project_image(service) or name in ONE_SHOT:
                continue
            kind, *test = service["healthcheck"]["test"]
            program = shlex.split(test[0])[0] if kind == "CMD-SHELL" else test[0]
            assert (VENV_BIN / program).exists(), f"{name}: health check runs {program}, not in the image's venv"
            if test[:2] == ["python", "-c"]:
                compile(test[2], f"{name} health check", "exec")
