-- Revision 0002, deferral (loyalty.program contact_policy.defer_days, a message step's valid_days): a message over
-- the frequency cap or outranked by a higher-priority workflow is `deferred` and decided again each later run date
-- until valid_until (the last run date it may go out on), then suppressed as expired.
-- Idempotent like every revision: a warehouse whose schema.sql already had it (no version table) is unchanged.
alter table loyalty.send_ledger add column if not exists valid_until date;
-- A DAG run's deferred rows per step, by reason (loyalty.workflow_runs).
alter table loyalty.workflow_runs add column if not exists deferred jsonb not null default '{}'::jsonb;
-- status: holdout | pending | deferred | sending | sent | failed | suppressed | unknown
do $$
begin
    if not exists (
        select 1 from pg_constraint
        where conname = 'send_ledger_status' and pg_get_constraintdef(oid) like '%deferred%'
    ) then
        alter table loyalty.send_ledger drop constraint if exists send_ledger_status;
        alter table loyalty.send_ledger add constraint send_ledger_status check (
            status in ('holdout', 'pending', 'deferred', 'sending', 'sent', 'failed', 'suppressed', 'unknown')
        );
    end if;
end
$$;
-- Open rows of a workflow (batch assignment, the audience gate, crash reconciliation, deferral): a partial index,
-- so recording an outcome (sending -> sent | failed) and holdout / suppressed rows add no entry. It covers the
-- deferred rows too and replaces send_ledger_workflow_open.
drop index if exists loyalty.send_ledger_workflow_open;
create index if not exists send_ledger_workflow_waiting on loyalty.send_ledger (workflow_id, status)
where status in ('pending', 'deferred', 'sending');
