-- One row per customer whose birthday is the run date (29 February birthdays fall on 28 February
-- in other years), reachable on some channel. One greeting per birthday (cycle: this year's birthday date).

with

customers as (

    select * from {{ ref('int_customers_reachable') }}

),

customers_with_birthday as (

    select
        customer_id,
        cast(
            {{ dbt.dateadd('year', dbt.datediff('birth_date', 'run_date', 'year'), 'birth_date') }}
            as date
        ) as birthday_this_year,
        cast({{ dbt.datediff('birth_date', 'run_date', 'year') }} as {{ dbt.type_int() }}) as age_turning

    from customers
    where birth_date is not null

),

final as (

    select
        {{ audience_columns('customers', loyalty.date_to_iso_string('customers_with_birthday.birthday_this_year')) }},
        customers_with_birthday.birthday_this_year as birthday_date,
        customers_with_birthday.age_turning,
        customers.loyalty_tier,
        customers.favourite_category

    from customers
    inner join customers_with_birthday
        on customers.customer_id = customers_with_birthday.customer_id
    where
        customers_with_birthday.birthday_this_year = customers.run_date

)

select * from final
