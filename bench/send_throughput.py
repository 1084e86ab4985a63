"""Send-path benchmarks, side by side in one run against the same provider emulator.

    .venv/bin/python bench/send_throughput.py                     # defaults below
    .venv/bin/python bench/send_throughput.py --ledger-rows 1000000 --memory-sizes 100000,1000000
    .venv/bin/python bench/send_throughput.py --results PATH          # also one JSON line per figure (run_all)

1. email: our batched path (ledger claim -> render -> one SendGrid request of 1000
   personalizations -> record) vs the obvious baseline, one `sendgrid` Mail Send call per message
   (what a loop over Airflow's SendGrid provider does);
2. SMS: the twilio client with bounded concurrency (threads over one pooled session) vs a
   sequential loop with the same client, rate limit off; once as fast as the local emulator
   answers, once with a realistic provider latency (--sms-latency, default 50 ms); then the full
   ledger path in 2 and 4 parallel send processes (--sms-processes; Airflow mapped send tasks in
   the channel's pool: separate processes, each with bounded threads, --sms-process-threads);
3. ledger write: entering + planning N audience rows (hash assignment, routing, policies, unique
   key, indexes) vs a bare `INSERT ... SELECT` of the same rows into a copy of the ledger table,
   --ledger-repeats times in turn (median ratio), each side on a table without dead rows;
   then the next day's plan of 10,000 new customers on top of those N, vs the same plan for a
   workflow with no history;
4. peak memory (max RSS) of a process that sends a whole N-customer audience, batch after batch:
   it must not grow with N.
Warehouse: LOYALTY_WAREHOUSE_URL, else a throwaway embedded Postgres.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx
import psycopg
import yaml

import results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from loyalty import ledger  # noqa: E402
from loyalty.channels.base import Message  # noqa: E402
from loyalty.channels.sendgrid_email import SendGridEmail  # noqa: E402
from loyalty.channels.twilio_sms import TwilioSms  # noqa: E402
from loyalty.specs import load_spec  # noqa: E402
from loyalty.warehouse import connect, init_schema  # noqa: E402
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE as UNSUBSCRIBE  # noqa: E402

API_KEY = "SG.bench"
TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 32, "bench-token"
SMS_BATCH = 500  # SMS batches: the audience splits evenly over 2 and 4 send processes
DAY = dt.date(2026, 6, 1)
TEMPLATE = {"en": {"subject": "Hi {{ first_name }}", "body": "<p>We miss you, {{ first_name }}</p>", "text": "Hi"}}


def spec_file(folder: Path, name: str, channel: str, batch_size: int | None = None):
    data = {
        "id": name,
        "name": name,
        "owner": "bench",
        "description": "bench",
        "audience": {"model": f"eligible_{name}"},
        "experiment": {
            "salt": "s",
            "holdout_pct": 0.0,
            "variants": [{"id": "a", "weight": 1.0, "templates": {"m": TEMPLATE}}],
        },
        "steps": [{"id": "m", "type": "message", "channel": channel}],
    }
    if batch_size is not None:
        data["batch_size"] = batch_size
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def audience(url: str, name: str, n: int, day: dt.date, first: int = 1) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(f"drop table if exists marts.eligible_{name}")
        conn.execute(
            f"""create table marts.eligible_{name} as
                select customer_id, %s::date as run_date, 'c' || customer_id || '@example.com' as email,
                       true as email_consent, '+1555' || lpad(customer_id::text, 7, '0') as phone,
                       true as sms_consent, 'Ana' as first_name, 'en' as locale, 'cycle-1' as cycle_key,
                       'UTC' as timezone
                from generate_series(%s::int, %s::int) as customer_id""",
            [day, first, first + n - 1],
        )


def reset(url: str, emulator: str, workflow: str) -> None:
    httpx.post(f"{emulator}/_emulator/reset", timeout=60)
    with psycopg.connect(url) as conn:
        conn.execute("delete from loyalty.send_ledger where workflow_id = %s", [workflow])
        conn.execute("delete from loyalty.journey_entries where workflow_id = %s", [workflow])
        conn.execute("delete from loyalty.completed_plans where workflow_id = %s", [workflow])


def send_all(url: str, spec, senders, batches: list[str], threads: int = 1) -> None:
    run = partial(ledger.send_batch, partial(connect, url), spec, senders=senders)
    if threads == 1:
        for batch in batches:
            run(batch_id=batch)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda b: run(batch_id=b), batches))


def load() -> str:
    """The 1-minute load average, printed next to every figure (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.1f}"


def email_batched(url: str, emulator: str, spec, n: int, threads: int) -> float:
    """Emails/s through the full ledger path: plan, then `threads` send tasks over the batches."""
    reset(url, emulator, spec.id)
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, DAY)
        batches = ledger.assign_batches(conn, spec, DAY)["email"]
    client = SendGridEmail(API_KEY, "bench@example.com", host=emulator, unsubscribe=UNSUBSCRIBE)
    started = time.perf_counter()
    send_all(url, spec, {"email": client}, batches, threads)
    return n / (time.perf_counter() - started)


def email_baseline(emulator: str, count: int) -> float:
    """The obvious loop: one Mail Send request per recipient, same client, same emulator."""
    client = SendGridEmail(API_KEY, "bench@example.com", host=emulator)
    messages = [Message(f"b{i}", f"c{i}@example.com", "Hi Ana", "<p>We miss you, Ana</p>") for i in range(count)]
    started = time.perf_counter()
    for message in messages:
        client.client.client.mail.send.post(request_body=client.payload([message], ["loyalty"]))
    return count / (time.perf_counter() - started)


def email(
    url: str,
    emulator: str,
    folder: Path,
    n: int,
    baseline_n: int,
    tasks: list[int],
    latency: float,
    record: results.Recorder,
) -> None:
    spec = load_spec(spec_file(folder, "bench_email", "email"))
    audience(url, "bench_email", n, DAY)
    best = 0.0
    for threads in tasks:
        rate = email_batched(url, emulator, spec, n, threads)
        best = max(best, rate)
        label = f"{threads} task(s)"
        print(f"email  batched, full ledger path, {label:<10} {rate:>10,.0f} emails/s  ({n:,} emails; {load()})")
    baseline = email_baseline(emulator, baseline_n)
    print(f"email  baseline: one request per message         {baseline:>10,.0f} emails/s  ({baseline_n:,}; {load()})")
    print(f"email  speed-up, best batched vs baseline        {best / baseline:>10,.0f}x")
    tried = "/".join(map(str, tasks))
    figure = f"emails, batched, best of {tried} send tasks; ratio ours/one request a message, higher is better"
    record(figure, best, baseline, "emails/s", best / baseline)
    if not latency:
        return
    httpx.post(f"{emulator}/_emulator/settings", json={"email": {"latency_s": latency}}, timeout=10)
    try:
        threads = max(tasks)
        rate = email_batched(url, emulator, spec, n, threads)
        count = max(10, min(baseline_n, int(5 / latency)))
        slow = email_baseline(emulator, count)
    finally:
        httpx.post(f"{emulator}/_emulator/settings", json={"email": {"latency_s": 0}}, timeout=10)
    print(
        f"email  with {latency * 1000:.0f} ms provider latency: batched ({threads} tasks) {rate:,.0f} emails/s, "
        f"baseline {slow:,.1f} emails/s ({count}): {rate / slow:,.0f}x  ({load()})"
    )
    figure = f"emails, {latency * 1000:.0f} ms provider latency, {threads} tasks; ratio ours/one request a message"
    record(figure + ", higher is better", rate, slow, "emails/s", rate / slow)


def sms(
    url: str,
    emulator: str,
    folder: Path,
    n: int,
    sequential_n: int,
    concurrency: int,
    latency: float,
    processes: list[int],
    process_threads: int,
    record: results.Recorder,
) -> None:
    spec_path = spec_file(folder, "bench_sms", "sms", batch_size=SMS_BATCH)
    spec = load_spec(spec_path)
    day = DAY + dt.timedelta(days=1)  # one workflow message per customer and day (priority policy)
    audience(url, "bench_sms", n, day)
    figures, loads = {}, {}
    for label, threads, count in (("bounded", concurrency, n), ("sequential", 1, sequential_n)):
        reset(url, emulator, spec.id)
        client = TwilioSms(
            TWILIO_SID, TWILIO_TOKEN, "+15005550006", "http://127.0.0.1:9/cb", host=emulator, concurrency=threads
        )
        messages = [Message(f"s{i}", f"+1555{i:07d}", "", "Hi Ana") for i in range(count)]
        started = time.perf_counter()
        outcomes = client.deliver(messages, [])
        figures[label], loads[label] = count / (time.perf_counter() - started), load()
        assert all(o.status == "sent" for o in outcomes), {o.status for o in outcomes}
        client.close()
    reset(url, emulator, spec.id)
    client = TwilioSms(
        TWILIO_SID, TWILIO_TOKEN, "+15005550006", "http://127.0.0.1:9/cb", host=emulator, concurrency=concurrency
    )
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, day)
        batches = ledger.assign_batches(conn, spec, day)["sms"]
    started = time.perf_counter()
    send_all(url, spec, {"sms": client}, batches)
    full = n / (time.perf_counter() - started)
    client.close()
    print(
        f"sms    client, {concurrency} threads (bounded)           {figures['bounded']:>10,.0f} sms/s  ({n:,} sms; "
        f"{loads['bounded']})"
    )
    print(
        f"sms    client, sequential loop                   {figures['sequential']:>10,.0f} sms/s  "
        f"({sequential_n:,} sms)"
    )
    print(f"sms    full ledger path, {concurrency} threads           {full:>10,.0f} sms/s  ({load()})")
    print(f"sms    speed-up                                  {figures['bounded'] / figures['sequential']:>10,.1f}x")
    sequential = figures["sequential"]
    better = "ratio ours/sequential client, higher is better"
    record(
        f"SMS, twilio client, {concurrency} threads; {better}",
        figures["bounded"],
        sequential,
        "sms/s",
        figures["bounded"] / sequential,
    )
    record(
        f"SMS, full ledger path, 1 process x {concurrency} threads; {better}",
        full,
        sequential,
        "sms/s",
        full / sequential,
    )
    for count in processes:
        rate = sms_processes(url, emulator, spec_path, day, n, count, process_threads)
        label = f"{count} processes x {process_threads} threads"
        print(f"sms    full ledger path, {label:<25}{rate:>10,.0f} sms/s  ({n:,} sms; {load()})")
        record(f"SMS, full ledger path, {label}; {better}", rate, sequential, "sms/s", rate / sequential)
    httpx.post(f"{emulator}/_emulator/settings", json={"sms": {"latency_s": latency}}, timeout=10)
    try:
        for label, threads, count in (("bounded", concurrency, min(n, 2000)), ("sequential", 1, 100)):
            reset(url, emulator, spec.id)
            client = TwilioSms(
                TWILIO_SID, TWILIO_TOKEN, "+15005550006", "http://127.0.0.1:9/cb", host=emulator, concurrency=threads
            )
            messages = [Message(f"l{i}", f"+1555{i:07d}", "", "Hi Ana") for i in range(count)]
            started = time.perf_counter()
            client.deliver(messages, [])
            figures[label] = count / (time.perf_counter() - started)
            client.close()
    finally:
        httpx.post(f"{emulator}/_emulator/settings", json={"sms": {"latency_s": 0}}, timeout=10)
    print(
        f"sms    with {latency * 1000:.0f} ms provider latency: {concurrency} threads "
        f"{figures['bounded']:,.0f} sms/s, ",
        end="",
    )
    print(
        f"sequential {figures['sequential']:,.0f} sms/s ({figures['bounded'] / figures['sequential']:.0f}x; {load()})"
    )
    figure = f"SMS, {latency * 1000:.0f} ms provider latency, {concurrency} threads; {better}"
    record(figure, figures["bounded"], figures["sequential"], "sms/s", figures["bounded"] / figures["sequential"])


SMS_CHILD = """
import sys
from functools import partial
sys.path.insert(0, sys.argv[5])
from loyalty import ledger
from loyalty.channels.twilio_sms import TwilioSms
from loyalty.specs import load_spec
from loyalty.warehouse import connect
url, spec_path, emulator, threads = sys.argv[1:5]
batches = sys.argv[6:]
spec = load_spec(__import__("pathlib").Path(spec_path))
client = TwilioSms("AC" + "0" * 32, "bench-token", "+15005550006", "http://127.0.0.1:9/cb", host=emulator,
                   concurrency=int(threads))
print("ready", flush=True)
sys.stdin.readline()
sent = 0
for batch in batches:
    sent += ledger.send_batch(partial(connect, url), spec, batch, {"sms": client})["sent"]
client.close()
print(sent, flush=True)
"""


def sms_processes(
    url: str, emulator: str, spec_path: Path, day: dt.date, n: int, processes: int, threads: int
) -> float:
    """SMS/s through the full ledger path with `processes` send tasks in parallel (an Airflow pool's
    slots are separate worker processes), each sending its share of the batches with `threads`
    bounded threads. Timed from the moment every process has imported and built its client."""
    spec = load_spec(spec_path)
    reset(url, emulator, spec.id)
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, day)
        batches = ledger.assign_batches(conn, spec, day)["sms"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-c", SMS_CHILD, url, str(spec_path), emulator, str(threads), str(ROOT / "plugins")]
    children = [
        subprocess.Popen(
            [*command, *batches[index::processes]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in range(processes)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    sent = sum(int(child.communicate()[0].split()[-1]) for child in children)
    rate = sent / (time.perf_counter() - started)
    assert sent == n, (sent, n)
    return rate


def ledger_write(url: str, folder: Path, n: int, repeats: int, record: results.Recorder) -> None:
    """Bare INSERT ... SELECT vs enter + plan of the same n rows, `repeats` times in turn (the figure is
    the median ratio: one pair swings ±20% with the shared machine). Each side starts from a table
    without dead rows: the bare side's is new, and ours is vacuumed after the previous round's rows
    (and the earlier email and SMS runs' rows) are deleted, as autovacuum keeps a live ledger."""
    spec = load_spec(spec_file(folder, "bench_ledger", "email"))
    day = DAY + dt.timedelta(days=2)
    audience(url, "bench_ledger", n, day)
    ratios, bares, ourses = [], [], []
    for round_number in range(1, repeats + 1):
        with psycopg.connect(url) as conn:
            conn.execute("delete from loyalty.send_ledger where workflow_id = %s", [spec.id])
            conn.execute("delete from loyalty.journey_entries where workflow_id = %s", [spec.id])
            conn.execute("delete from loyalty.completed_plans where workflow_id = %s", [spec.id])
            conn.execute("drop table if exists loyalty.bare_ledger")
            conn.execute("create table loyalty.bare_ledger (like loyalty.send_ledger including all)")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze loyalty.send_ledger, loyalty.journey_entries, marts.eligible_bench_ledger")
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            conn.execute(
                """insert into loyalty.bare_ledger (send_id, workflow_id, step_id, customer_id, cycle_key, run_date,
                       variant, is_holdout, channel, recipient, context, status)
                   select md5(customer_id::text), 'bench_ledger', 'm', customer_id, cycle_key, run_date, 'a', false,
                          'email', email, to_jsonb(audience), 'pending'
                   from marts.eligible_bench_ledger as audience"""
            )
            conn.commit()
            bare = time.perf_counter() - started
            started = time.perf_counter()
            ledger.plan(conn, spec, day)
            conn.commit()
            ours = time.perf_counter() - started
            conn.execute("drop table loyalty.bare_ledger")
            conn.commit()
        ratios.append(ours / bare)
        bares.append(bare)
        ourses.append(ours)
        print(
            f"ledger round {round_number}/{repeats}: bare INSERT ... SELECT of {n:,} rows (same table shape, same "
            f"indexes) {bare:>6.1f} s; enter + plan (journey entry, assignment, routing, policies, ledger) "
            f"{ours:>6.1f} s ({ours / bare:.2f}x)  ({load()})"
        )
    print(f"ledger write, median of {repeats}: {statistics.median(ratios):.2f}x a bare INSERT ... SELECT")
    figure = f"ledger write, {n:,} rows, median of {repeats}; ratio ours/bare INSERT ... SELECT, lower is better"
    ours_s, bare_s = statistics.median(ourses), statistics.median(bares)
    record(figure, ours_s, bare_s, "s", statistics.median(ratios))
    next_day(url, folder, spec, n, day, record)


def next_day(
    url: str, folder: Path, spec, history: int, day: dt.date, record: results.Recorder, new: int = 10_000
) -> None:
    """The next day's plan of `new` customers on top of the `history` entries just planned, against
    the same plan for a workflow with no history: the daily plan must not grow with history."""
    fresh = load_spec(spec_file(folder, "bench_fresh", "email"))
    timings = {}
    for workflow in (spec, fresh):
        audience(url, workflow.id, new, day + dt.timedelta(days=1), first=history + 1)
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            ledger.plan(conn, workflow, day + dt.timedelta(days=1))
            conn.commit()
            timings[workflow.id] = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        for workflow in (spec, fresh):
            for table in ("send_ledger", "journey_entries", "completed_plans"):
                conn.execute(f"delete from loyalty.{table} where workflow_id = %s", [workflow.id])
    print(
        f"ledger next day: plan {new:,} new customers after {history:,} entries of history "
        f"{timings[spec.id]:>6.2f} s, with no history {timings[fresh.id]:.2f} s  ({load()})"
    )
    figure = f"next day's plan, {new:,} new after {history:,} of history; ratio ours/no history, ~1 is flat"
    record(figure, timings[spec.id], timings[fresh.id], "s", timings[spec.id] / timings[fresh.id])


MEMORY_CHILD = """
import resource, sys, datetime as dt
from functools import partial
sys.path.insert(0, sys.argv[4])
from loyalty import ledger
from loyalty.channels.sendgrid_email import SendGridEmail
from loyalty.specs import load_spec
from loyalty.warehouse import connect
url, spec_path, emulator = sys.argv[1:4]
spec = load_spec(__import__("pathlib").Path(spec_path))
with connect(url) as conn:
    batches = ledger.assign_batches(conn, spec, dt.date(2026, 6, 4))["email"]
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE
client = SendGridEmail("SG.bench", "bench@example.com", host=emulator, unsubscribe=LOCAL_UNSUBSCRIBE)
sent = 0
for batch in batches:
    sent += ledger.send_batch(partial(connect, url), spec, batch, {"email": client})["sent"]
print(sent, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def memory(url: str, emulator: str, folder: Path, sizes: list[int], record: results.Recorder) -> None:
    path = spec_file(folder, "bench_memory", "email")
    spec = load_spec(path)
    day = DAY + dt.timedelta(days=3)
    for n in sizes:
        audience(url, "bench_memory", n, day)
        reset(url, emulator, spec.id)
        with psycopg.connect(url) as conn:
            ledger.plan(conn, spec, day)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, url, str(path), emulator, str(ROOT / "plugins")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        seconds = time.perf_counter() - started
        print(
            f"memory send of {n:>9,} customers: peak RSS {int(out[1]):>5} MiB  "
            f"({int(out[0]):,} sent in {seconds:.0f} s; {load()})"
        )
        peak = float(out[1])
        record(f"peak RSS of one send process, {n:,} customers (flat in audience size)", peak, None, "MiB", None, peak)
        reset(url, emulator, spec.id)


class Emulator:
    """The provider emulator in its own process, started the way the tests and the demo start it:
    `python -m loyalty_dev.emulator`. Status callbacks go nowhere (their failures are noise here)."""

    def __init__(self) -> None:
        cmd = [sys.executable, "-m", "loyalty_dev.emulator", "--port", "0", "--api-key", API_KEY]
        cmd += ["--twilio-auth-token", TWILIO_TOKEN, "--sms-unsubscribe-rate", "0"]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().removeprefix("EMULATOR_URL=")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=50_000)
    parser.add_argument("--email-baseline", type=int, default=1_000)
    parser.add_argument("--email-tasks", default="1,2,4", help="parallel send tasks, one figure each")
    parser.add_argument("--email-latency", type=float, default=0.1, help="seconds per request, second email run")
    parser.add_argument("--sms", type=int, default=8_000)
    parser.add_argument("--sms-sequential", type=int, default=1_000)
    parser.add_argument("--sms-concurrency", type=int, default=32)
    parser.add_argument("--sms-latency", type=float, default=0.05, help="seconds per request, second SMS run")
    parser.add_argument("--sms-processes", default="2,4", help="parallel send processes, one figure each")
    parser.add_argument("--sms-process-threads", type=int, default=8, help="bounded threads in each send process")
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--ledger-repeats", type=int, default=3, help="bare/ours pairs; the median ratio is the figure")
    parser.add_argument("--memory-sizes", default="10000,100000")
    parser.add_argument("--skip", default="", help="comma-separated: email,sms,ledger,memory")
    results.add_argument(parser)
    args = parser.parse_args()
    record = results.Recorder(args.results, "send_throughput")
    skip = set(filter(None, args.skip.split(",")))
    if not os.environ.get("LOYALTY_PROGRAM_FILE"):  # every customer planned and sent: no global holdout, no cap
        program = Path(tempfile.mkdtemp()) / "program.yml"
        program.write_text("global_holdout: {pct: 0}\ncontact_policy: {frequency_cap: null}\n")
        os.environ["LOYALTY_PROGRAM_FILE"] = str(program)

    server = None
    url = os.environ.get("LOYALTY_WAREHOUSE_URL", "").strip()
    if not url:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp()) / "pg", cleanup_mode="stop")
        url = server.get_uri()
    init_schema(url)
    folder = Path(tempfile.mkdtemp())
    emulator = Emulator()
    try:
        if "email" not in skip:
            tasks = [int(t) for t in args.email_tasks.split(",")]
            email(url, emulator.url, folder, args.emails, args.email_baseline, tasks, args.email_latency, record)
        if "sms" not in skip:
            processes = [int(p) for p in args.sms_processes.split(",") if p]
            sms_args = (args.sms, args.sms_sequential, args.sms_concurrency, args.sms_latency)
            sms(url, emulator.url, folder, *sms_args, processes, args.sms_process_threads, record)
        if "ledger" not in skip:
            ledger_write(url, folder, args.ledger_rows, args.ledger_repeats, record)
        if "memory" not in skip:
            memory(url, emulator.url, folder, [int(s) for s in args.memory_sizes.split(",")], record)
    finally:
        emulator.process.kill()
        emulator.process.wait()
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
