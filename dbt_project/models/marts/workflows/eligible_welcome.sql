-- One row per customer in their first `welcome_max_days_since_signup` days after signup on the run
-- date, reachable on some channel: the welcome series. One welcome per signup (cycle: the signup date).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

segments as (

    select * from {{ ref('customer_segments') }}
    where run_date = {{ loyalty.run_date() }}

),

final as (

    select
        {{ audience_columns('customers', loyalty.date_to_iso_string('customers.signup_date')) }},
        customers.signup_date,
        customers.tenure_days as days_since_signup,
        customers.order_count > 0 as has_ordered,
        segments.persona

    from customers
    inner join segments
        on customers.customer_id = segments.customer_id
    where
        customers.tenure_days between 0 and {{ var('welcome_max_days_since_signup') }}

)

select * from final
