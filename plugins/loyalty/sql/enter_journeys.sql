-- Enter today's eligible customers into a workflow's journey, once per cycle, each assigned to the
-- holdout or a variant by a hash of (salt, workflow, customer). Customers in the global holdout
-- (a hash of (global salt, customer), the same for every workflow) are held out of every workflow.
-- Reruns and backfills insert nothing new.
-- {audience} is a validated, quoted identifier and {entered_on} a quoted column or the run date;
-- everything else is a bound parameter.
with audience as (
    select
        audience.customer_id,
        audience.cycle_key,
        {entered_on} as entered_on,
        to_jsonb(audience) as context
    from {audience} as audience
    where audience.run_date = %(run_date)s
),

bucketed as (
    select
        audience.*,
        ('x' || substr(md5(%(salt)s || ':' || %(workflow_id)s || ':' || audience.customer_id), 1, 8))::bit(32)::bigint
            / 4294967296.0 as holdout_bucket,
        ('x' || substr(md5(%(salt)s || ':' || %(workflow_id)s || ':' || audience.customer_id || ':variant'), 1, 8))::bit(32)::bigint
            / 4294967296.0 as variant_bucket,
        ('x' || substr(md5(%(global_salt)s || ':' || audience.customer_id), 1, 8))::bit(32)::bigint
            / 4294967296.0 as global_bucket
    from audience
),

assigned as (
    select
        bucketed.*,
        bucketed.global_bucket < %(global_holdout_pct)s as is_global_holdout,
        bucketed.holdout_bucket < %(holdout_pct)s or bucketed.global_bucket < %(global_holdout_pct)s as is_holdout,
        -- The first variant whose cumulative weight exceeds the bucket: width_bucket counts the
        -- (ascending) cumulative weights at or below it.
        (%(variant_ids)s::text[])[width_bucket(bucketed.variant_bucket, %(cumulative_weights)s::float8[]) + 1]
            as variant_id
    from bucketed
),

not_cooling_down as (
    -- Re-entry: a customer who entered this workflow less than cooldown_days ago waits.
    select assigned.*
    from assigned
    where not exists (
        select 1
        from loyalty.journey_entries as earlier
        where earlier.workflow_id = %(workflow_id)s
            and earlier.customer_id = assigned.customer_id
            and earlier.cycle_key <> assigned.cycle_key
            and earlier.entered_on > assigned.entered_on - %(cooldown_days)s::int
            and earlier.entered_on <= assigned.entered_on
    )
)

insert into loyalty.journey_entries (
    workflow_id, customer_id, cycle_key, entered_on, run_date, variant, is_holdout, is_global_holdout, context
)
select
    %(workflow_id)s,
    customer_id,
    cycle_key,
    entered_on,
    %(run_date)s,
    case when is_holdout then 'holdout' else variant_id end,
    is_holdout,
    is_global_holdout,
    context
from not_cooling_down
on conflict (workflow_id, customer_id, cycle_key) do nothing
