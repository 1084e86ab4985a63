-- One row per customer with a completed order line on or before the run date: the product
-- category they bought the most units of (ties: more spend, then category name).

with

order_lines as (

    select * from {{ ref('int_order_lines_as_of_run_date') }}

),

customer_categories as (

    select
        customer_id,
        product_category,
        sum(quantity) as units_bought,
        sum(line_total) as spend

    from order_lines
    where product_category is not null
    group by customer_id, product_category

),

customer_categories_ranked as (

    select
        customer_id,
        product_category,
        units_bought,
        spend,
        row_number() over (
            partition by customer_id
            order by units_bought desc, spend desc, product_category asc
        ) as category_rank

    from customer_categories

),

final as (

    select
        customer_id,
        product_category as favourite_category,
        units_bought as favourite_category_units

    from customer_categories_ranked
    where category_rank = 1

)

select * from final
