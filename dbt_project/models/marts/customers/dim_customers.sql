-- One row per customer known on the run date: contact, consent and RFM features as of that date.

with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

order_gaps as (

    select * from {{ ref('int_customer_order_gaps') }}

),

customer_orders as (

    select
        customer_id,
        min(ordered_date) as first_order_date,
        max(ordered_date) as last_order_date,
        count(*) as order_count,
        sum(order_total) as lifetime_revenue

    from orders
    where is_completed
    group by customer_id

),

customer_interpurchase_intervals as (

    select
        customer_id,
        {{ loyalty.median('days_since_previous_order') }} as median_days_between_orders

    from order_gaps
    group by customer_id

),

customers_as_of_run_date as (

    select customers.*
    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    where
        customers.signup_date <= {{ loyalty.run_date() }}
        or customer_orders.customer_id is not null

),

customers_joined_to_orders as (

    select
        customers_as_of_run_date.customer_id,
        customers_as_of_run_date.email,
        customers_as_of_run_date.first_name,
        customers_as_of_run_date.locale,
        customers_as_of_run_date.timezone,
        customers_as_of_run_date.email_consent,
        customers_as_of_run_date.signup_date,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        coalesce(customer_orders.order_count, 0) as order_count,
        coalesce(customer_orders.lifetime_revenue, 0) as lifetime_revenue,
        -- A customer's own median gap once they have two completed orders, else the prior.
        coalesce(
            customer_interpurchase_intervals.median_days_between_orders,
            {{ var('default_interpurchase_days') }}
        ) as expected_interpurchase_days

    from customers_as_of_run_date
    left join customer_orders
        on customers_as_of_run_date.customer_id = customer_orders.customer_id
    left join customer_interpurchase_intervals
        on customers_as_of_run_date.customer_id = customer_interpurchase_intervals.customer_id

),

final as (

    select
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        {{ loyalty.run_date() }} as run_date,
        email,
        first_name,
        locale,
        timezone,
        email_consent,
        signup_date,
        first_order_date,
        last_order_date,
        cast(order_count as {{ dbt.type_int() }}) as order_count,
        lifetime_revenue,
        round(lifetime_revenue / nullif(order_count, 0), 2) as average_order_value,
        cast(
            {{ dbt.datediff('last_order_date', loyalty.run_date(), 'day') }}
            as {{ dbt.type_int() }}
        ) as days_since_last_order,
        cast(expected_interpurchase_days as {{ dbt.type_float() }}) as expected_interpurchase_days,
        cast(
            {{ dbt.datediff('last_order_date', loyalty.run_date(), 'day') }}
            - expected_interpurchase_days
            as {{ dbt.type_float() }}
        ) as days_overdue

    from customers_joined_to_orders

)

select * from final
