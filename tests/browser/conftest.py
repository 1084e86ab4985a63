"""One small demo world for the browser tests, a Superset started on it, and headless Chromium.

The world is the demo's (same generator, same win-back spec, the real SendGrid client against the emulator,
signed webhooks through the receiver, the audience gate, dbt as of each day, then the metric marts), driven
in-process as tests/integration/test_ground_truth.py does: the real Airflow runs are tests/e2e's job, and
skipping them here keeps this module to about two minutes. A few loader rejections land in raw.quarantine so
the data-quality dashboard has something to count.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from loyalty import report
from loyalty.bi import superset
from loyalty.paths import PROJECT_ROOT, WORKFLOWS_DIR
from loyalty_dev.demo import DemoConfig
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE as UNSUBSCRIBE
from loyalty_dev.simulation import GeneratorConfig

from ..conftest import empty_app_tables
from ..debian import ensure_packages

CONFIG = DemoConfig(GeneratorConfig(customers=3_000, seed=11, campaign_days=14), run_every_days=7)
WORKFLOW = WORKFLOWS_DIR / "win_back.yml"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,2400",
)
LOADER_REJECTIONS = [
    ("raw.orders", "loader:unparseable_order_total", {"order_id": "x-1", "order_total": "12,3O"}),
    ("raw.orders", "loader:unparseable_order_total", {"order_id": "x-2", "order_total": "n/a"}),
    ("raw.customers", "loader:missing_customer_id", {"email": "someone@example.com"}),
]


SCREENSHOTS: list[Path] = []  # listed at the end of the run (pytest_terminal_summary below)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS:
        terminalreporter.section("browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


def save_screenshot(browser, name: str) -> Path:
    """A PNG of what the browser shows, kept after the run; its path is printed at the end."""
    path = artifacts_dir() / f"{name}.png"
    browser.save_screenshot(str(path))
    SCREENSHOTS.append(path)
    print(f"screenshot of {name}: {path}")
    return path


def artifacts_dir() -> Path:
    """Screenshots land here (kept after the run): LOYALTY_ARTIFACTS_DIR or .state/artifacts/browser."""
    path = Path(os.environ.get("LOYALTY_ARTIFACTS_DIR", PROJECT_ROOT / ".state" / "artifacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_chromium() -> str | None:
    """Install Debian's chromium and chromium-driver when missing; None when ready, else why not."""
    return ensure_packages(["chromium", "chromium-driver"], [CHROMIUM, CHROMEDRIVER])


def _build_world(url: str) -> None:
    from loyalty import operations
    from loyalty.channels.sendgrid_email import SendGridEmail
    from loyalty.dbt import run_dbt
    from loyalty.quality import check_raw  # Great Expectations: slow to import, only needed here
    from loyalty_dev.demo import EMULATOR_API_KEY, prepare_world, start_stack, world_moves

    prepare_world(url, CONFIG, progress=lambda line: None)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into raw.quarantine (source_table, rule, row_data) values (%s, %s, %s)",
            [(table, rule, json.dumps(row)) for table, rule, row in LOADER_REJECTIONS],
        )
    with ExitStack() as stack:
        running = start_stack(stack, url, CONFIG.generator.seed)
        email = SendGridEmail(
            EMULATOR_API_KEY, "loyalty@example.com", host=running.emulator.url, unsubscribe=UNSUBSCRIBE
        )
        for day in CONFIG.run_days():
            world_moves(running, CONFIG, day)
            running.set_clock(dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC))
            build = ["build", "--select", "+path:models/marts/workflows", "--exclude", "resource_type:test"]
            run_dbt([*build, "resource_type:unit_test"], url, day)
            operations.plan_run(WORKFLOW, url, day, f"browser-{day}", dry_run=False)
            operations.check_audience(WORKFLOW, url, day)
            for batch_id in operations.batches(WORKFLOW, url, day).get("email", []):
                operations.send(WORKFLOW, url, batch_id, email=email)
            running.flush_webhooks()
        end = CONFIG.generator.horizon_end
        world_moves(running, CONFIG, end)
    check_raw(url, end)
    marts = [
        "+path:models/marts/metrics",
        "+path:models/marts/data_quality",
        "+path:models/marts/customers",
        "+path:models/marts/loyalty_program",  # the points ledger and its liability
    ]
    run_dbt(["build", "--select", *marts, "--exclude", "resource_type:test", "resource_type:unit_test"], url, end)


def loyalty_cli(*args: str) -> str:
    """Run the `loyalty` command in-process; its standard output."""
    from typer.testing import CliRunner

    from loyalty.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def superset_starting(warehouse_url: str) -> Iterator[Future]:
    """Superset starts (migrations, `superset init`, bundle import, gunicorn) while the world is built: neither
    needs the other until a dashboard is opened."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(superset.start, warehouse_url, port=0, progress=lambda line: None)
        yield starting
        starting.exception()  # wait for it either way before stopping
        superset.stop()


@pytest.fixture(scope="module")
def demo_world(warehouse_url: str, superset_starting: Future) -> Iterator[dict]:
    """The demo-like world's figures, as `loyalty report --format json` prints them."""
    empty_app_tables(warehouse_url)
    _build_world(warehouse_url)
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_WAREHOUSE_URL", warehouse_url)
    figures = json.loads(loyalty_cli("report", "--format", "json"))
    with psycopg.connect(warehouse_url) as conn:  # the CLI prints what the package computes
        assert figures == json.loads(report.to_json(report.fetch_report(conn)))
    yield figures
    mp.undo()


@pytest.fixture(scope="module")
def superset_server(superset_starting: Future, demo_world: dict) -> superset.Superset:
    """A fresh Superset (private state folder: new metadata database) with the bundle imported, on the world."""
    return superset_starting.result(timeout=600)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    why_not = ensure_chromium()
    if why_not:
        pytest.skip(f"headless Chromium unavailable: {why_not}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()
