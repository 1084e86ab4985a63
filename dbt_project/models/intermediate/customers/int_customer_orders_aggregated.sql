-- One row per customer with at least one completed order on or before the run date:
-- frequency and monetary value over their lifetime and the trailing 90 and 365 days,
-- first and last order (with the last order's id and total), and their own median gap between orders.

with

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

order_gaps as (

    select * from {{ ref('int_customer_order_gaps') }}

),

completed_orders as (

    select
        order_id,
        customer_id,
        ordered_date,
        order_total,
        {{ dbt.datediff('ordered_date', loyalty.run_date(), 'day') }} as days_before_run_date,
        row_number() over (
            partition by customer_id
            order by ordered_at desc, order_id desc
        ) as order_recency_rank

    from orders
    where is_completed

),

customer_orders as (

    select
        customer_id,
        min(ordered_date) as first_order_date,
        max(ordered_date) as last_order_date,
        count(*) as order_count,
        sum(order_total) as lifetime_revenue,
        sum(case when days_before_run_date < 90 then 1 else 0 end) as order_count_90d,
        sum(case when days_before_run_date < 90 then order_total else 0 end) as revenue_90d,
        sum(case when days_before_run_date < 365 then 1 else 0 end) as order_count_365d,
        sum(case when days_before_run_date < 365 then order_total else 0 end) as revenue_365d,
        max(case when order_recency_rank = 1 then order_id end) as last_order_id,
        max(case when order_recency_rank = 1 then order_total end) as last_order_total

    from completed_orders
    group by customer_id

),

gaps_ranked as (

    select
        customer_id,
        days_since_previous_order,
        row_number() over (
            partition by customer_id
            order by ordered_date desc, order_id desc
        ) as gap_recency_rank

    from order_gaps

),

customer_gaps as (

    select
        customer_id,
        {{ loyalty.median('days_since_previous_order') }} as median_days_between_orders,
        max(case when gap_recency_rank = 1 then days_since_previous_order end) as days_between_last_two_orders

    from gaps_ranked
    group by customer_id

),

final as (

    select
        customer_orders.customer_id,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.last_order_id,
        customer_orders.last_order_total,
        customer_orders.order_count,
        customer_orders.lifetime_revenue,
        customer_orders.order_count_90d,
        customer_orders.revenue_90d,
        customer_orders.order_count_365d,
        customer_orders.revenue_365d,
        customer_gaps.median_days_between_orders,
        customer_gaps.days_between_last_two_orders

    from customer_orders
    left join customer_gaps
        on customer_orders.customer_id = customer_gaps.customer_id

)

select * from final
