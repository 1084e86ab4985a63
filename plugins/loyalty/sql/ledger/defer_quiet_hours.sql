-- Quiet hours (SMS and push): a batch's pending rows whose customer's local time is inside the
-- quiet hours at %(now)s are deferred, not dropped: they stay pending with not_before = the end of
-- the quiet hours in the customer's time zone (the entry's context.timezone; UTC when missing or unknown), and
-- the next claim of the batch after that time sends them (a task retry or a later run).
with known_zones as materialized (
    select pg_timezone_names.name
    from pg_timezone_names
),

local_clocks as (
    select
        ledger.send_id,
        coalesce(known_zones.name, 'UTC') as time_zone,
        %(now)s::timestamptz at time zone coalesce(known_zones.name, 'UTC') as local_now
    from loyalty.send_ledger as ledger
    left join loyalty.journey_entries as entry
        on entry.workflow_id = ledger.workflow_id
            and entry.customer_id = ledger.customer_id
            and entry.cycle_key = ledger.cycle_key
    left join known_zones
        on known_zones.name = coalesce(ledger.context, entry.context) ->> 'timezone'
    where ledger.batch_id = %(batch_id)s
        and ledger.status = 'pending'
        and ledger.channel in ('sms', 'push')
),

inside_quiet_hours as (
    select
        local_clocks.*,
        local_clocks.local_now::date + %(quiet_end)s::time as quiet_end_today
    from local_clocks
    where case
            when %(quiet_start)s::time <= %(quiet_end)s::time
                then local_clocks.local_now::time >= %(quiet_start)s::time
                    and local_clocks.local_now::time < %(quiet_end)s::time
            else local_clocks.local_now::time >= %(quiet_start)s::time
                or local_clocks.local_now::time < %(quiet_end)s::time
        end
)

update loyalty.send_ledger as ledger
set
    not_before = (
        case
            when inside_quiet_hours.quiet_end_today > inside_quiet_hours.local_now
                then inside_quiet_hours.quiet_end_today
            else inside_quiet_hours.quiet_end_today + interval '1 day'
        end
    ) at time zone inside_quiet_hours.time_zone,
    status_reason = 'quiet_hours',
    updated_at = now()
from inside_quiet_hours
where ledger.send_id = inside_quiet_hours.send_id
