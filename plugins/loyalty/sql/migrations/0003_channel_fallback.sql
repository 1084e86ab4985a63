-- Revision 0003, channel fallback (a message step with a channel order): a message whose address proved dead (a
-- hard bounce, a permanent SMS or push failure) is followed, once, by a second row of the same step, customer and
-- cycle on the next channel we may use: channel_attempt 2 (`attempts` counts provider requests of one row). The
-- one-per-cycle key includes it (replaced where the older key without it exists); existing rows are attempt 1.
alter table loyalty.send_ledger add column if not exists channel_attempt smallint not null default 1;
do $$
begin
    if not exists (
        select 1 from pg_constraint
        where conname = 'send_ledger_one_per_cycle' and pg_get_constraintdef(oid) like '%channel_attempt%'
    ) then
        alter table loyalty.send_ledger drop constraint if exists send_ledger_one_per_cycle;
        alter table loyalty.send_ledger add constraint send_ledger_one_per_cycle
        unique (workflow_id, step_id, customer_id, cycle_key, channel_attempt);
    end if;
    if not exists (select 1 from pg_constraint where conname = 'send_ledger_channel_attempt') then
        alter table loyalty.send_ledger add constraint send_ledger_channel_attempt check (channel_attempt in (1, 2));
    end if;
end
$$;
