"""`loyalty-dev`: the demo and its local services (never part of a production deployment).

The product's own command is `loyalty` (loyalty.cli); this one drives the synthetic retailer, the
provider emulator and a local Airflow, so nothing in the product has to know they exist.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, RenderableType

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Development tooling: the demo, the synthetic retailer, the provider emulator, a local Airflow UI.",
)
console = Console(width=None if sys.stdout.isatty() else 160)


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same world.")] = 42,
    campaign_days: Annotated[int, typer.Option(help="Days of campaign after the history.")] = 63,
) -> None:
    """Write a deterministic synthetic retailer (and its ground truth) into the warehouse."""
    from loyalty import warehouse
    from loyalty_dev.simulation import GeneratorConfig
    from loyalty_dev.simulation import generate as generate_world

    url = warehouse.resolve_url()
    warehouse.init_schema(url)
    with warehouse.connect(url) as conn:
        counts = generate_world(conn, GeneratorConfig(customers=customers, seed=seed, campaign_days=campaign_days))
        warehouse.drop_dbt_schemas(conn)
    console.print(counts)


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8095,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    seed: Annotated[int | None, typer.Option(help="Same seed, same message fates.")] = None,
    config: Annotated[str | None, typer.Option(help="JSON file of emulator settings (rates per channel...).")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Where SendGrid event batches go.")] = None,
    sms_inbound_url: Annotated[str | None, typer.Option(help="Where inbound SMS (STOP...) go.")] = None,
    push_receipt_url: Annotated[str | None, typer.Option(help="Where push receipts go.")] = None,
    api_key: Annotated[str | None, typer.Option(help="Require this SendGrid API key.")] = None,
    webhook_duplicate_rate: Annotated[float | None, typer.Option(help="Share of webhook posts sent twice.")] = None,
    webhook_out_of_order: Annotated[bool, typer.Option(help="Shuffle webhook events before posting.")] = False,
    log_level: Annotated[str, typer.Option()] = "warning",
) -> None:
    """Run the local provider emulator (SendGrid, Twilio, FCM and their signed webhooks).

    Twilio's auth token and the push receipt secret come from LOYALTY_EMULATOR_TWILIO_AUTH_TOKEN
    and LOYALTY_EMULATOR_PUSH_SECRET, or are generated (see GET /_emulator/settings)."""
    from loyalty_dev.emulator import serve
    from loyalty_dev.emulator.options import build_config

    options = {
        "seed": seed,
        "webhook_url": webhook_url,
        "sms_inbound_url": sms_inbound_url,
        "push_receipt_url": push_receipt_url,
        "api_key": api_key,
        "webhook_duplicate_rate": webhook_duplicate_rate,
        "webhook_out_of_order": webhook_out_of_order or None,
    }
    settings = build_config(options, config)
    serve(host, port, settings, on_ready=lambda url: print(f"EMULATOR_URL={url}", flush=True), log_level=log_level)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    campaign_days: Annotated[int, typer.Option(help="Campaign length in days.")] = 63,
    mapping: Annotated[
        Path | None,
        typer.Option(help="Run on your own data: empty the warehouse, `loyalty load` this mapping, run one day."),
    ] = None,
    run_date: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="With --mapping: the run date; default the day after the newest order."
        ),
    ] = None,
    workflow: Annotated[
        list[str] | None,
        typer.Option(help="With --mapping: run only this workflow (repeatable); default all daily ones."),
    ] = None,
) -> None:
    """Generate a retailer, run real Airflow DAG runs per simulated day, print lift per variant.

    With --mapping: empty the warehouse, load your own data instead, run the day after its newest order
    and print the workflows' audiences and sends and the data quality (one export has no outcomes: no lift)."""
    if mapping is not None:
        demo_on_data(mapping, run_date.date() if run_date else None, workflow)
        return
    from loyalty import report, warehouse
    from loyalty_dev.demo import DEMO_WORKFLOW_DAGS, DemoConfig, run_demo, truth_lines
    from loyalty_dev.local_airflow import airflow_home
    from loyalty_dev.simulation import GeneratorConfig

    started = dt.datetime.now()
    cfg = DemoConfig(
        GeneratorConfig(customers=customers, seed=seed, campaign_days=campaign_days), workflows=DEMO_WORKFLOW_DAGS
    )
    rows = run_demo(cfg, progress=lambda line: console.print(f"[dim]{dt.datetime.now():%H:%M:%S}[/dim] {line}"))
    console.print(report.render_table(rows))
    with warehouse.connect() as conn:
        console.print(report.render_channel_table(report.fetch_channels(conn)))
    for line in truth_lines(rows):
        console.print(line)
    console.print(f"finished in {(dt.datetime.now() - started).total_seconds():.0f}s")
    console.print(
        "See the same runs in the Airflow UI:  make airflow-ui   "
        f"(AIRFLOW_HOME={airflow_home()}; http://localhost:8080, no login)"
    )
    console.print(
        "See the results on the Superset dashboards:  make dashboards   (http://localhost:8088, read-only, no login); "
        "or offline:  .venv/bin/loyalty report --html report.html"
    )


def _progress(line: RenderableType) -> None:
    if isinstance(line, str):
        console.print(f"[dim]{dt.datetime.now():%H:%M:%S}[/dim] {line}")
    else:
        console.print(line)


def demo_on_data(mapping: Path, run_date: dt.date | None, workflows: list[str] | None) -> None:
    from loyalty_dev.demo_own_data import DemoInputError, render_day, run_demo_on_data
    from loyalty_dev.local_airflow import airflow_home

    started = dt.datetime.now()
    try:
        result = run_demo_on_data(mapping, run_date, workflows, progress=_progress)
    except DemoInputError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    for part in render_day(result):
        console.print(part)
    console.print(f"finished in {(dt.datetime.now() - started).total_seconds():.0f}s")
    console.print(
        f"See the same runs in the Airflow UI:  make airflow-ui   (AIRFLOW_HOME={airflow_home()}); the quarantined "
        "rows on the Data quality dashboard:  make dashboards"
    )


@app.command("new-migration")
def new_migration(
    slug: Annotated[str, typer.Argument(help="File name part: lowercase, digits and _ (e.g. consent_history).")],
    title: Annotated[
        str, typer.Argument(help="One line saying what changes (printed by `loyalty warehouse upgrade`).")
    ],
) -> None:
    """Start a migration of the application tables: the revision file and the SQL file it runs."""
    from loyalty_dev.new_migration import new_migration as create

    try:
        revision_file, sql_file = create(slug, title)
    except ValueError as error:
        console.print(f"[red]✗[/red] {error}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"wrote {revision_file}\nwrote {sql_file} (write the change there)", highlight=False)


@app.command("airflow-ui")
def airflow_ui(
    port: Annotated[int, typer.Option(help="Airflow API server port.")] = 8080,
) -> None:
    """Airflow standalone on the demo's metadata, with the emulator and receiver running too."""
    import subprocess
    import sys
    from contextlib import ExitStack

    from loyalty import warehouse
    from loyalty_dev.demo import start_stack

    url = warehouse.resolve_url()
    with ExitStack() as stack:
        running = start_stack(stack, url, seed=42)
        env = {**os.environ, **running.airflow_env, "AIRFLOW__API__PORT": str(port)}
        console.print(f"Airflow UI on http://localhost:{port} (no login: local demo only); Ctrl-C stops it")
        try:
            subprocess.run([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env, check=False)
        except KeyboardInterrupt:
            console.print("stopped")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
