"""The `loyalty` command: a face over the package (parses arguments, calls the package)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Loyalty workflows as code."
)
warehouse_app = typer.Typer(
    no_args_is_help=True, help="The warehouse (embedded Postgres unless LOYALTY_WAREHOUSE_URL)."
)
app.add_typer(warehouse_app, name="warehouse")
console = Console(width=None if sys.stdout.isatty() else 160)  # tables stay readable in logs


@warehouse_app.command("url")
def warehouse_url() -> None:
    """Print the resolved warehouse URL (starts the embedded Postgres when needed)."""
    from loyalty.warehouse import resolve_url

    print(resolve_url())


@warehouse_app.command("init")
def warehouse_init() -> None:
    """Create the application's tables (raw landing, send ledger): the same as `loyalty warehouse upgrade`."""
    warehouse_upgrade()


@warehouse_app.command("upgrade")
def warehouse_upgrade(
    revision: Annotated[str, typer.Option(help="The revision to stop at.")] = "head",
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL from the current revision; run nothing.")] = False,
) -> None:
    """Apply the pending migrations of the application tables, each in its own transaction."""
    from loyalty import migrations
    from loyalty.warehouse import resolve_url

    try:
        if sql:
            print(migrations.upgrade_sql(resolve_url(), revision), end="")
            return
        url = resolve_url()
        for applied in migrations.upgrade(url, revision):
            console.print(f"applied {applied}  {migrations.revision_title(applied)}", highlight=False)
        state = migrations.status(url)
    except migrations.MigrationError as error:
        console.print(f"[red]✗[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    behind = f", {len(state.pending)} pending" if state.pending else " (head)"
    console.print(f"warehouse at revision {state.current}{behind}", highlight=False)


@warehouse_app.command("status")
def warehouse_status() -> None:
    """The warehouse's migration revision against the newest this release ships; exit code 1 when behind."""
    from loyalty import migrations
    from loyalty.warehouse import resolve_url

    try:
        state = migrations.status(resolve_url())
    except migrations.MigrationError as error:
        console.print(f"[red]✗[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"current {state.current or 'none (no migration applied)'}, head {state.head}", highlight=False)
    for revision in state.pending:
        console.print(f"pending {revision}  {migrations.revision_title(revision)}", highlight=False)
    if not state.is_current:
        console.print("run `loyalty warehouse upgrade`", highlight=False)
        raise typer.Exit(1)


@warehouse_app.command("stop")
def warehouse_stop() -> None:
    """Stop the embedded Postgres, if it runs."""
    from loyalty.warehouse import stop_embedded

    console.print("stopped" if stop_embedded() else "embedded Postgres was not running")


specs_app = typer.Typer(no_args_is_help=True, help="Workflow specs: validate them, publish their JSON Schema.")
app.add_typer(specs_app, name="specs")


@specs_app.command("validate")
def specs_validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Spec files; default: every spec in workflows/.")] = None,
) -> None:
    """Validate specs (and the program config, program.yml) against their schema and the dbt project; errors
    name file, line and field."""
    from loyalty.paths import WORKFLOWS_DIR
    from loyalty.program import load_program, program_path
    from loyalty.specs import SpecError, spec_paths
    from loyalty.specs.checks import validate_paths
    from loyalty.specs.loading import PROGRAM_FILE_NAME

    files = paths or spec_paths(WORKFLOWS_DIR)
    programs = [path for path in files if path.name == PROGRAM_FILE_NAME] or ([] if paths else [program_path()])
    files = [path for path in files if path.name != PROGRAM_FILE_NAME]
    problems = validate_paths(files)
    for program in programs:
        try:
            load_program(program)
        except SpecError as error:
            problems.append(str(error))
    for problem in problems:
        console.print(f"[red]✗[/red] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    checked = " and the program config" if any(program.exists() for program in programs) else ""
    console.print(f"[green]✓[/green] {len(files)} spec(s){checked} valid")


@specs_app.command("schema")
def specs_schema(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """The JSON Schema of a workflow spec (for editor completion and validation)."""
    import json

    from loyalty.specs import WorkflowSpec

    text = json.dumps(WorkflowSpec.model_json_schema(by_alias=True), indent=2) + "\n"
    if output:
        output.write_text(text)
    else:
        print(text, end="")


@specs_app.command("objectives")
def specs_objectives(
    check: Annotated[bool, typer.Option("--check", help="Only check the seeds match the specs.")] = False,
) -> None:
    """Write the specs' objectives, holdouts, windows and variant weights as dbt seeds (the metric marts read them)."""
    from loyalty.specs.seeds import SEEDS_DIR, render_seeds, write_seeds

    if check:
        stale = [name for name, text in render_seeds().items() if (SEEDS_DIR / name).read_text() != text]
        for name in stale:
            console.print(f"[red]✗[/red] {name} does not match the specs: run `loyalty specs objectives`")
        if stale:
            raise typer.Exit(1)
        console.print("[green]✓[/green] seeds match the specs")
        return
    changed = write_seeds()
    console.print(f"[green]✓[/green] {len(changed)} seed file(s) updated in {SEEDS_DIR}")


@app.command()
def preview(
    workflow: Annotated[str, typer.Argument(help="Workflow id (a spec in workflows/).")],
    customer: Annotated[int, typer.Option("--customer", help="Customer id.")],
    run_date: Annotated[str | None, typer.Option(help="As-of date; default: the latest in the audience model.")] = None,
) -> None:
    """Render the exact messages a customer would get (subject, body, SMS text)."""
    from loyalty import warehouse
    from loyalty.paths import WORKFLOWS_DIR
    from loyalty.specs.preview import preview as render_preview

    spec_path = WORKFLOWS_DIR / f"{workflow}.yml"
    if not spec_path.exists():
        console.print(f"[red]no spec {spec_path}[/red]")
        raise typer.Exit(2)
    day = dt.date.fromisoformat(run_date) if run_date else None
    with warehouse.connect() as conn:
        result = render_preview(conn, spec_path, customer, day)
    if result.arm is None:
        console.print(f"customer {customer} is not in {workflow}'s audience on {result.run_date}")
    elif result.arm == "holdout":
        console.print(f"customer {customer} is in {workflow}'s holdout: they receive nothing (measured, not sent)")
    for message in result.messages:
        console.rule(f"{message.pop('step_id')} via {message.pop('channel')}")
        for name, value in message.items():
            console.print(f"[bold]{name}:[/bold] {value}", highlight=False)
    if result.ledger:
        console.rule("already in the send ledger")
        for row in result.ledger:
            console.print(row, highlight=False)


@app.command("dbt-manifest")
def dbt_manifest() -> None:
    """Compile dbt's manifest (dbt parse) for per-model Airflow tasks; prints its path.

    Run at build/deploy time and export LOYALTY_DBT_MANIFEST=<path> for the Airflow processes.
    """
    from loyalty.dbt import compile_manifest

    print(compile_manifest())


@app.command()
def webhooks(
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8090,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (one warehouse connection set each).")] = 1,
) -> None:
    """Run the webhook receiver. Secrets come from the environment only:
    LOYALTY_SENDGRID_WEBHOOK_PUBLIC_KEY, LOYALTY_TWILIO_AUTH_TOKEN, LOYALTY_PUSH_WEBHOOK_SECRET,
    LOYALTY_UNSUBSCRIBE_SECRET, LOYALTY_APP_EVENTS_SECRET (an endpoint without its secret is refused with 503);
    LOYALTY_WEBHOOKS_PUBLIC_URL is the base URL providers call (Twilio signs it)."""
    from loyalty.serving import serve
    from loyalty.warehouse import ENV_URL, resolve_url
    from loyalty.webhooks import config_from_env
    from loyalty.webhooks.config import SECRET_ENV_VARS

    url = resolve_url()
    configured = config_from_env(url).configured
    if not configured:
        console.print(f"[red]no webhook secret is set[/red]: set at least one of {', '.join(SECRET_ENV_VARS)}")
        raise typer.Exit(2)
    os.environ[ENV_URL] = url  # worker processes resolve the same warehouse
    print(f"verifying: {', '.join(configured)}", file=sys.stderr, flush=True)
    serve("loyalty.webhooks.app:create_app_from_env", "webhooks", host, port, workers=workers, factory=True)


@app.command("report")
def report_command(
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report with charts (opens offline).")
    ] = None,
) -> None:
    """Per workflow and variant results from the metric marts (JSON: every figure the dashboards show)."""
    from loyalty import report, warehouse

    if format not in {"table", "json"}:
        console.print(f"[red]unknown format {format!r}[/red]: use table or json")
        raise typer.Exit(2)
    with warehouse.connect() as conn:
        figures = report.fetch_report(conn) if html or format == "json" else None
        rows = figures["workflows"] if figures else report.fetch_results(conn)
        channels = figures["channels"] if figures else report.fetch_channels(conn)
    if figures is None:  # neither --html nor json
        console.print(report.render_table(rows))
        if channels:
            console.print(report.render_channel_table(channels))
    elif html:
        from loyalty.report.html import render_html

        html.write_text(render_html(figures))
        console.print(f"HTML report written to {html.resolve()}", highlight=False)
    else:
        print(report.to_json(figures))


@app.command("load")
def load_command(
    mapping: Annotated[Path, typer.Option("--mapping", help="The mapping file (sources, columns, formats).")],
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Load your own data (CSV, Parquet, Postgres) into the raw tables; bad rows are quarantined with file,
    line, column and reason. Exit 2 only when the mapping is wrong or a source cannot be read."""
    from rich.markup import escape

    from loyalty.loader import MappingError, SourceError, load
    from loyalty.loader.render import render_table

    if format not in {"table", "json"}:
        console.print(f"[red]unknown format {format!r}[/red]: use table or json")
        raise typer.Exit(2)
    try:
        report = load(mapping)
    except (MappingError, SourceError) as error:
        console.print(f"[red]✗[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if format == "json":
        print(report.to_json())
    else:
        console.print(render_table(report))


mapping_app = typer.Typer(no_args_is_help=True, help="Load mappings (`loyalty load`): validate, publish the schema.")
app.add_typer(mapping_app, name="mapping")


@mapping_app.command("validate")
def mapping_validate(path: Annotated[Path, typer.Argument(help="The mapping file.")]) -> None:
    """Validate a mapping file without loading (errors name file, line and field)."""
    from rich.markup import escape

    from loyalty.loader import MappingError, read_mapping

    try:
        read_mapping(path)
    except MappingError as error:
        console.print(f"[red]✗[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"[green]✓[/green] {path} is a valid mapping", highlight=False)


@mapping_app.command("schema")
def mapping_schema(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """The JSON Schema of a load mapping (committed as plugins/loyalty/loader/mapping.schema.json)."""
    import json

    from loyalty.loader import mapping_json_schema

    text = json.dumps(mapping_json_schema(), indent=2) + "\n"
    if output:
        output.write_text(text)
    else:
        print(text, end="")


dashboards_app = typer.Typer(
    help="Apache Superset with the loyalty dashboards (superset/bundle): `loyalty dashboards` starts it.",
    invoke_without_command=True,
)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.callback()
def dashboards(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8088,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    detach: Annotated[
        bool, typer.Option(help="Leave it running in the background (`loyalty dashboards stop`).")
    ] = False,
) -> None:
    """Start Superset on the warehouse (installed on first use), import the dashboards, print their URLs.

    Anonymous visitors get a read-only view (local demo only; production: the `bi` service of docker-compose.yml).
    Runs until Ctrl-C unless --detach."""
    if ctx.invoked_subcommand is not None:
        return
    import signal
    import time

    from loyalty import warehouse
    from loyalty.bi import superset

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if not detach:  # `kill` and a closed terminal stop it as cleanly as Ctrl-C, even while it starts
        signal.signal(signal.SIGTERM, interrupted)
        signal.signal(signal.SIGHUP, interrupted)
    try:
        try:
            server = superset.start(warehouse.resolve_url(), port=port, host=host, progress=console.print)
        except RuntimeError as error:
            console.print(f"[red]{error}[/red]", highlight=False)
            raise typer.Exit(1) from error
        console.print(f"Superset at {server.url} (read-only public view; log {server.log_path})", highlight=False)
        for slug, title in superset.DASHBOARDS.items():
            console.print(f"  {title:<18} {server.dashboard_url(slug)}", highlight=False)
        if detach:
            console.print("running in the background: `loyalty dashboards stop` (or `make stop`) stops it")
            return
        console.print("Ctrl-C stops it")
        while superset.running() is not None:
            time.sleep(1)
        console.print("[red]Superset exited[/red]; see its log")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        superset.stop()
        console.print("stopped")


@dashboards_app.command("stop")
def dashboards_stop() -> None:
    """Stop the Superset `loyalty dashboards --detach` started."""
    from loyalty.bi import superset

    console.print("stopped Superset" if superset.stop() else "Superset was not running")


@dashboards_app.command("install")
def dashboards_install() -> None:
    """Install Superset into its own virtualenv (pinned by superset/requirements.txt); idempotent."""
    from loyalty.bi import superset

    console.print(f"Superset ready in {superset.install(console.print)}", highlight=False)


@dashboards_app.command("bundle")
def dashboards_bundle(
    output: Annotated[Path, typer.Argument(help="ZIP to write (for `superset import-dashboards -p`).")],
) -> None:
    """Write superset/bundle as an importable ZIP pointed at the resolved warehouse."""
    from loyalty import warehouse
    from loyalty.bi import superset

    superset.bundle_zip(warehouse.resolve_url(), output)
    console.print(f"bundle written to {output}", highlight=False)


@app.command()
def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    require_bi: Annotated[bool, typer.Option(help="A deployment without BI is a failure, not a warning.")] = False,
) -> None:
    """Check the deployment: warehouse, workflows, provider credentials, webhook receiver, Airflow pools and
    connections, BI. One line per check, a plain-words fix under each problem; exit 1 when something is wrong."""
    import contextlib
    import sys

    from loyalty.doctor import Deployment, failed, print_report, run_checks, to_json

    # What the checks' libraries log or print (Airflow configures its logging to stdout on import, alembic logs
    # at INFO) goes to stderr: stdout carries only the report, so `--json` stays parseable.
    with contextlib.redirect_stdout(sys.stderr):
        results = run_checks(Deployment(require_bi=require_bi))
    if json_output:
        print(to_json(results))
    else:
        print_report(results, console)
    raise typer.Exit(1 if failed(results) else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
