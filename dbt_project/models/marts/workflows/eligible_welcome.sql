-- One row per customer in their first `welcome_max_days_since_signup` days after signup on the run
-- date, reachable on some channel: the welcome series. One welcome per signup (cycle: the signup date).

with

customers as (

    select * from {{ ref('dim_customers') }}
    where run_date = {{ loyalty.run_date() }}

),

segments as (

    select * from {{ ref('customer_segments') }}
    where run_date = {{ loyalty.run_date() }}

),

final as (

    select
        customers.customer_id,
        customers.run_date,
        cast({{ loyalty.date_to_iso_string('customers.signup_date') }} as {{ dbt.type_string() }}) as cycle_key,
        {{ contact_columns('customers') }},
        customers.signup_date,
        customers.tenure_days as days_since_signup,
        customers.order_count > 0 as has_ordered,
        segments.persona

    from customers
    inner join segments
        on customers.customer_id = segments.customer_id
    where
        (customers.is_email_contactable or customers.is_sms_contactable or customers.is_push_contactable)
        and customers.tenure_days between 0 and {{ var('welcome_max_days_since_signup') }}

)

select * from final
