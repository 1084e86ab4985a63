-- One row per customer with a recommendation on the run date: the product most often bought by
-- customers who also bought what this customer bought in their latest completed order
-- (int_product_affinities), never one the customer already bought. Score: the sum of the
-- affinities' confidence over the order's products; ties go to more common customers, then product id.

with

order_lines as (

    select * from {{ ref('int_order_lines_as_of_run_date') }}

),

orders as (

    select * from {{ ref('int_orders_as_of_run_date') }}

),

affinities as (

    select * from {{ ref('int_product_affinities') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

completed_orders_ranked as (

    select
        order_id,
        customer_id,
        row_number() over (
            partition by customer_id
            order by ordered_at desc, order_id desc
        ) as order_recency_rank

    from orders
    where is_completed

),

last_order_products as (

    select distinct
        order_lines.customer_id,
        order_lines.order_id,
        order_lines.product_id

    from order_lines
    inner join completed_orders_ranked
        on
            order_lines.order_id = completed_orders_ranked.order_id
            and completed_orders_ranked.order_recency_rank = 1

),

products_bought as (

    select distinct
        customer_id,
        product_id

    from order_lines

),

candidates as (

    select
        last_order_products.customer_id,
        last_order_products.order_id,
        affinities.also_bought_product_id as recommended_product_id,
        sum(affinities.confidence) as recommendation_score,
        sum(affinities.customers_with_both) as customers_with_both

    from last_order_products
    inner join affinities
        on last_order_products.product_id = affinities.product_id
    left join products_bought
        on
            last_order_products.customer_id = products_bought.customer_id
            and affinities.also_bought_product_id = products_bought.product_id
    where products_bought.product_id is null
    group by last_order_products.customer_id, last_order_products.order_id, affinities.also_bought_product_id

),

candidates_ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by recommendation_score desc, customers_with_both desc, recommended_product_id asc
        ) as recommendation_rank

    from candidates

),

final as (

    select
        candidates_ranked.customer_id,
        candidates_ranked.order_id as based_on_order_id,
        candidates_ranked.recommended_product_id,
        products.product_name as recommended_product_name,
        products.product_category as recommended_product_category,
        candidates_ranked.recommendation_score

    from candidates_ranked
    inner join products
        on candidates_ranked.recommended_product_id = products.product_id
    where candidates_ranked.recommendation_rank = 1

)

select * from final
