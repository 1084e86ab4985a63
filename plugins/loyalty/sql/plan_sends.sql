-- Plan one workflow step for one run date: every eligible customer gets exactly one ledger row
-- per cycle, assigned to the holdout or a variant by a hash of (salt, workflow, customer).
-- {audience} is a validated, quoted identifier; everything else is a bound parameter.
-- ON CONFLICT DO NOTHING makes reruns and backfills no-ops for rows that already exist.
with audience as (
    select
        audience.customer_id,
        audience.cycle_key,
        audience.email,
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
            / 4294967296.0 as variant_bucket
    from audience
),

assigned as (
    select
        bucketed.*,
        bucketed.holdout_bucket < %(holdout_pct)s as is_holdout,
        (
            select variants.variant_id
            from unnest(%(variant_ids)s::text[], %(cumulative_weights)s::float8[])
                with ordinality as variants (variant_id, cumulative_weight, position)
            where bucketed.variant_bucket < variants.cumulative_weight
            order by variants.position
            limit 1
        ) as variant_id
    from bucketed
)

insert into loyalty.send_ledger (
    send_id, workflow_id, step_id, customer_id, cycle_key, run_date, variant, is_holdout,
    channel, recipient, context, status
)
select
    md5(%(workflow_id)s || ':' || %(step_id)s || ':' || assigned.customer_id || ':' || assigned.cycle_key),
    %(workflow_id)s,
    %(step_id)s,
    assigned.customer_id,
    assigned.cycle_key,
    %(run_date)s,
    case when assigned.is_holdout then 'holdout' else assigned.variant_id end,
    assigned.is_holdout,
    %(channel)s,
    assigned.email,
    assigned.context,
    case when assigned.is_holdout then 'holdout' else 'pending' end
from assigned
on conflict (workflow_id, step_id, customer_id, cycle_key) do nothing
