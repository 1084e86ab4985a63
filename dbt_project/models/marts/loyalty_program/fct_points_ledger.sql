-- The points ledger as of the run date: one row per points event, append-only by construction (an
-- event is derived from an immutable fact and never changes once it happened). Earned: every completed
-- order (points_per_currency_unit per unit of its total, rounded down) and every reward a workflow
-- granted (a `sent` reward row of the send ledger, points from its spec: seed workflow_rewards).
-- Expired: each earning expires points_expire_after_days later, in full (the shop feeds no
-- redemptions). Balances and liability as of any day are sums over this table.

with

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

sends as (

    select * from {{ ref('stg_loyalty__sends') }}

),

workflow_rewards as (

    select * from {{ ref('workflow_rewards') }}

),

earned_by_orders as (

    select
        {{ dbt.concat(["'order:'", 'order_id']) }} as lot_id,
        customer_id,
        'order' as earned_by,
        order_id as source_id,
        cast(null as {{ dbt.type_string() }}) as workflow_id,
        ordered_date as earned_on,
        cast(floor(order_total * {{ var('points_per_currency_unit') }}) as {{ dbt.type_int() }}) as points

    from orders
    where is_completed

),

earned_by_rewards as (

    select
        {{ dbt.concat(["'reward:'", 'sends.send_id']) }} as lot_id,
        sends.customer_id,
        'reward' as earned_by,
        sends.send_id as source_id,
        sends.workflow_id,
        sends.run_date as earned_on,
        cast(workflow_rewards.points as {{ dbt.type_int() }}) as points

    from sends
    inner join workflow_rewards
        on sends.workflow_id = workflow_rewards.workflow_id
            and sends.step_id = workflow_rewards.step_id
    where
        sends.channel = 'reward'
        and sends.status = 'sent'
        and sends.run_date <= {{ loyalty.run_date() }}

),

lots as (

    select * from earned_by_orders
    union all
    select * from earned_by_rewards

),

lots_with_expiry as (

    select
        *,
        cast({{ dbt.dateadd('day', var('points_expire_after_days'), 'earned_on') }} as date) as expires_on

    from lots
    where points > 0

),

events as (

    select
        {{ dbt.concat(['lot_id', "':earned'"]) }} as points_event_id,
        lot_id,
        customer_id,
        'earned' as event_type,
        earned_by,
        source_id,
        workflow_id,
        earned_on as occurred_on,
        points,
        expires_on

    from lots_with_expiry

    union all

    select
        {{ dbt.concat(['lot_id', "':expired'"]) }} as points_event_id,
        lot_id,
        customer_id,
        'expired' as event_type,
        earned_by,
        source_id,
        workflow_id,
        expires_on as occurred_on,
        -points as points,
        expires_on

    from lots_with_expiry
    where expires_on <= {{ loyalty.run_date() }}

),

final as (

    select
        cast(points_event_id as {{ dbt.type_string() }}) as points_event_id,
        cast(lot_id as {{ dbt.type_string() }}) as lot_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        cast(earned_by as {{ dbt.type_string() }}) as earned_by,
        cast(source_id as {{ dbt.type_string() }}) as source_id,
        cast(workflow_id as {{ dbt.type_string() }}) as workflow_id,
        occurred_on,
        cast(points as {{ dbt.type_int() }}) as points,
        expires_on

    from events

)

select * from final
