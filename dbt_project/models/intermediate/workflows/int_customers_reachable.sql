-- One row per customer known on the run date whom we may contact on at least one channel
-- (dim_customers' is_<channel>_contactable: the rule of macros/contact_permission.sql), with every
-- column of dim_customers: the population the eligibility models select their audiences from. A view
-- over the run date's slice of dim_customers (read through its (run_date, customer_id) index).

with

customers as (

    select * from {{ ref('dim_customers') }}
    where run_date = {{ loyalty.run_date() }}

),

reachable_customers as (

    select * from customers
    where is_email_contactable or is_sms_contactable or is_push_contactable

)

select * from reachable_customers
