-- The per-step summary of one DAG run into loyalty.workflow_runs (a rerun of the run updates it).
insert into loyalty.workflow_runs (
    workflow_id, run_date, run_id, step_id, dry_run, entered, planned, held_out, suppressed, deferred, sent, failed,
    unknown
)
values (
    %(workflow_id)s,
    %(run_date)s,
    %(run_id)s,
    %(step_id)s,
    %(dry_run)s,
    %(entered)s,
    %(planned)s,
    %(held_out)s,
    %(suppressed)s,
    %(deferred)s,
    %(sent)s,
    %(failed)s,
    %(unknown)s
)
on conflict (workflow_id, run_date, run_id, step_id) do update set
    planned = excluded.planned,
    held_out = excluded.held_out,
    suppressed = excluded.suppressed,
    deferred = excluded.deferred,
    sent = excluded.sent,
    failed = excluded.failed,
    unknown = excluded.unknown,
    recorded_at = now()
