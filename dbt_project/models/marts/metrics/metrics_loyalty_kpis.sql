-- One row per calendar month of completed orders up to the run date: program-wide loyalty KPIs.
--   repeat_customer_rate     share of the month's buyers who had bought before the month
--   purchase_frequency       orders per buyer in the month
--   average_order_value      revenue / orders
--   average_days_between_purchases  mean gap between a customer's order in the month and their previous one
--   churn_rate               share of customers with an order by the month's end whose last order is more
--                            than `lifecycle_churned_after_days` before it
--   historic_clv             revenue per customer (with an order) accumulated up to the month's end
--   predicted_clv_365d       mean predicted 365-day CLV (dim_customers) on the month's latest run date built

with

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

completed_orders as (

    select
        customer_id,
        ordered_date,
        order_total,
        cast({{ dbt.date_trunc('month', 'ordered_date') }} as date) as order_month,
        lag(ordered_date) over (partition by customer_id order by ordered_date, order_id) as previous_ordered_date,
        min(ordered_date) over (partition by customer_id) as first_ordered_date

    from orders
    where is_completed

),

months as (

    select distinct order_month
    from completed_orders

),

monthly_orders as (

    select
        order_month,
        count(*) as orders,
        count(distinct customer_id) as buyers,
        count(
            distinct case
                when first_ordered_date < order_month then customer_id
            end
        ) as returning_buyers,
        sum(order_total) as revenue,
        avg(
            case
                when previous_ordered_date is not null
                    then {{ dbt.datediff('previous_ordered_date', 'ordered_date', 'day') }}
            end
        ) as average_days_between_purchases

    from completed_orders
    group by order_month

),

customer_state_at_month_end as (

    select
        months.order_month,
        completed_orders.customer_id,
        max(completed_orders.ordered_date) as last_ordered_date,
        sum(completed_orders.order_total) as lifetime_revenue

    from months
    inner join completed_orders
        on completed_orders.order_month <= months.order_month
    group by months.order_month, completed_orders.customer_id

),

customer_silence_at_month_end as (

    select
        *,
        {{ dbt.datediff('last_ordered_date', dbt.last_day('order_month', 'month'), 'day') }} as days_silent

    from customer_state_at_month_end

),

monthly_customers as (

    select
        order_month,
        count(*) as customers_with_orders,
        sum(case when days_silent > {{ var('lifecycle_churned_after_days') }} then 1 else 0 end) as churned_customers,
        sum(lifetime_revenue) as lifetime_revenue

    from customer_silence_at_month_end
    group by order_month

),

latest_run_per_month as (

    select
        cast({{ dbt.date_trunc('month', 'run_date') }} as date) as order_month,
        max(run_date) as run_date

    from customers
    group by cast({{ dbt.date_trunc('month', 'run_date') }} as date)

),

predicted_clv as (

    select
        latest_run_per_month.order_month,
        avg(customers.predicted_clv_365d) as predicted_clv_365d

    from latest_run_per_month
    inner join customers
        on latest_run_per_month.run_date = customers.run_date
    where customers.order_count > 0
    group by latest_run_per_month.order_month

),

final as (

    select
        monthly_orders.order_month,
        cast(monthly_orders.buyers as {{ dbt.type_int() }}) as buyers,
        cast(monthly_orders.orders as {{ dbt.type_int() }}) as orders,
        cast(monthly_orders.revenue as {{ dbt.type_numeric() }}) as revenue,
        {{ loyalty.round_rate(loyalty.proportion('monthly_orders.returning_buyers', 'monthly_orders.buyers')) }}
            as repeat_customer_rate,
        {{ loyalty.round_rate(loyalty.proportion('monthly_orders.orders', 'monthly_orders.buyers')) }}
            as purchase_frequency,
        {{ loyalty.round_rate('monthly_orders.revenue / nullif(monthly_orders.orders, 0)') }} as average_order_value,
        {{ loyalty.round_rate('monthly_orders.average_days_between_purchases') }} as average_days_between_purchases,
        cast(monthly_customers.customers_with_orders as {{ dbt.type_int() }}) as customers_with_orders,
        {{ loyalty.round_rate(
            loyalty.proportion('monthly_customers.churned_customers', 'monthly_customers.customers_with_orders')
        ) }} as churn_rate,
        {{ loyalty.round_rate('monthly_customers.lifetime_revenue / nullif(monthly_customers.customers_with_orders, 0)') }}
            as historic_clv,
        {{ loyalty.round_rate('predicted_clv.predicted_clv_365d') }} as predicted_clv_365d

    from monthly_orders
    inner join monthly_customers
        on monthly_orders.order_month = monthly_customers.order_month
    left join predicted_clv
        on monthly_orders.order_month = predicted_clv.order_month

)

select * from final
