-- One row per workflow and treated variant: the conversions and revenue an attribution rule would
-- credit, side by side with the incremental figures of the holdout comparison, so the over-credit is
-- visible. Touches are delivered messages (clicks for click-only) dated by their send's run date; an
-- order counts when dated strictly after the touch and within the workflow's attribution window.
--   window_*      every workflow claims every order inside the window of one of its delivered messages
--                 (what hosted tools report)
--   last_touch_*  each order goes to the latest delivered message (any workflow) whose window holds it
--   click_*       each order goes to the latest clicked message whose window holds it

with

sends as (

    select * from {{ ref('fct_sends') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

incrementality as (

    select * from {{ ref('metrics_workflow_incrementality') }}

),

touches as (

    select
        send_id,
        workflow_id,
        variant,
        customer_id,
        run_date,
        attribution_window_end_date,
        is_clicked

    from sends
    where is_delivered and not is_holdout

),

completed_orders as (

    select
        order_id,
        customer_id,
        ordered_date,
        order_total

    from orders
    where is_completed

),

orders_joined_to_touches as (

    select
        completed_orders.order_id,
        completed_orders.order_total,
        touches.send_id,
        touches.workflow_id,
        touches.variant,
        touches.run_date,
        touches.is_clicked

    from completed_orders
    inner join touches
        on completed_orders.customer_id = touches.customer_id
            and completed_orders.ordered_date > touches.run_date
            and completed_orders.ordered_date <= touches.attribution_window_end_date

),

window_credit as (

    select distinct
        workflow_id,
        variant,
        order_id,
        order_total

    from orders_joined_to_touches

),

ranked_touches as (

    select
        *,
        row_number() over (partition by order_id order by run_date desc, send_id desc) as touch_recency,
        row_number() over (
            partition by order_id
            order by case when is_clicked then 0 else 1 end, run_date desc, send_id desc
        ) as click_recency

    from orders_joined_to_touches

),

credits as (

    select
        workflow_id,
        variant,
        count(*) as window_conversions,
        sum(order_total) as window_revenue,
        0 as last_touch_conversions,
        0 as last_touch_revenue,
        0 as click_conversions,
        0 as click_revenue

    from window_credit
    group by workflow_id, variant

    union all

    select
        workflow_id,
        variant,
        0 as window_conversions,
        0 as window_revenue,
        sum(case when touch_recency = 1 then 1 else 0 end) as last_touch_conversions,
        sum(case when touch_recency = 1 then order_total else 0 end) as last_touch_revenue,
        sum(case when click_recency = 1 and is_clicked then 1 else 0 end) as click_conversions,
        sum(case when click_recency = 1 and is_clicked then order_total else 0 end) as click_revenue

    from ranked_touches
    group by workflow_id, variant

),

credits_per_variant as (

    select
        workflow_id,
        variant,
        sum(window_conversions) as window_conversions,
        sum(window_revenue) as window_revenue,
        sum(last_touch_conversions) as last_touch_conversions,
        sum(last_touch_revenue) as last_touch_revenue,
        sum(click_conversions) as click_conversions,
        sum(click_revenue) as click_revenue

    from credits
    group by workflow_id, variant

),

final as (

    select
        incrementality.workflow_id,
        incrementality.variant,
        incrementality.entries,
        cast(coalesce(credits_per_variant.window_conversions, 0) as {{ dbt.type_int() }}) as window_conversions,
        cast(coalesce(credits_per_variant.window_revenue, 0) as {{ dbt.type_numeric() }}) as window_revenue,
        cast(coalesce(credits_per_variant.last_touch_conversions, 0) as {{ dbt.type_int() }}) as last_touch_conversions,
        cast(coalesce(credits_per_variant.last_touch_revenue, 0) as {{ dbt.type_numeric() }}) as last_touch_revenue,
        cast(coalesce(credits_per_variant.click_conversions, 0) as {{ dbt.type_int() }}) as click_conversions,
        cast(coalesce(credits_per_variant.click_revenue, 0) as {{ dbt.type_numeric() }}) as click_revenue,
        incrementality.incremental_conversions,
        incrementality.incremental_conversions_ci_low,
        incrementality.incremental_conversions_ci_high,
        incrementality.incremental_revenue,
        incrementality.incremental_revenue_ci_low,
        incrementality.incremental_revenue_ci_high,
        {{ loyalty.round_rate(
            'coalesce(credits_per_variant.window_revenue, 0) / nullif(incrementality.incremental_revenue, 0)'
        ) }} as window_to_incremental_revenue_ratio

    from incrementality
    left join credits_per_variant
        on incrementality.workflow_id = credits_per_variant.workflow_id
            and incrementality.variant = credits_per_variant.variant
    where not incrementality.is_pooled

)

select * from final
