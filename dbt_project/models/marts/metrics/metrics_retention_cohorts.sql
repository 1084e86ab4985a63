-- One row per monthly cohort (month of a customer's first completed order) and month since then:
-- how many of the cohort bought in that month (retention) and their revenue, cumulative revenue per
-- cohort customer (the cohort's historic CLV curve).

with

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

completed_orders as (

    select
        customer_id,
        order_total,
        cast({{ dbt.date_trunc('month', 'ordered_date') }} as date) as order_month

    from orders
    where is_completed

),

cohorts as (

    select
        customer_id,
        min(order_month) as cohort_month

    from completed_orders
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_customers

    from cohorts
    group by cohort_month

),

cohort_activity as (

    select
        cohorts.cohort_month,
        {{ dbt.datediff('cohorts.cohort_month', 'completed_orders.order_month', 'month') }} as months_since_first_order,
        count(distinct completed_orders.customer_id) as active_customers,
        sum(completed_orders.order_total) as revenue

    from completed_orders
    inner join cohorts
        on completed_orders.customer_id = cohorts.customer_id
    group by cohorts.cohort_month, {{ dbt.datediff('cohorts.cohort_month', 'completed_orders.order_month', 'month') }}

),

final as (

    select
        cohort_activity.cohort_month,
        cast(cohort_activity.months_since_first_order as {{ dbt.type_int() }}) as months_since_first_order,
        cast(cohort_sizes.cohort_customers as {{ dbt.type_int() }}) as cohort_customers,
        cast(cohort_activity.active_customers as {{ dbt.type_int() }}) as active_customers,
        {{ loyalty.round_rate(loyalty.proportion('cohort_activity.active_customers', 'cohort_sizes.cohort_customers')) }}
            as retention_rate,
        cast(cohort_activity.revenue as {{ dbt.type_numeric() }}) as revenue,
        {{ loyalty.round_rate(
            'sum(cohort_activity.revenue) over (partition by cohort_activity.cohort_month'
            ~ ' order by cohort_activity.months_since_first_order rows unbounded preceding)'
            ~ ' / cohort_sizes.cohort_customers'
        ) }} as cumulative_revenue_per_customer

    from cohort_activity
    inner join cohort_sizes
        on cohort_activity.cohort_month = cohort_sizes.cohort_month

)

select * from final
