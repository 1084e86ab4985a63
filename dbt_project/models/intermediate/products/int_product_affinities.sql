{{ config(materialized='table') }}

-- "Customers who bought X also bought Y", as of the run date: one row per ordered pair of
-- distinct products bought (in completed orders) by at least `affinity_min_customers` common
-- customers, keeping each product's `affinity_top_n` best companions.
--   customers_with_both  customers who bought both X and Y
--   confidence           customers_with_both / customers who bought X   (P(Y | X))
--   lift                 confidence / share of all buyers who bought Y  (> 1: more than chance)
-- Ranked by customers_with_both, then lift, then product id, so the ranking is deterministic.

with

order_lines as (

    select * from {{ ref('int_order_lines_as_of_run_date') }}

),

customer_products as (

    select distinct
        customer_id,
        product_id

    from order_lines

),

buyers as (

    select count(distinct customer_id) as buyer_count
    from customer_products

),

product_buyers as (

    select
        product_id,
        count(*) as customers_with_product

    from customer_products
    group by product_id

),

product_pairs as (

    select
        bought.product_id,
        also_bought.product_id as also_bought_product_id,
        count(*) as customers_with_both

    from customer_products as bought
    inner join customer_products as also_bought
        on
            bought.customer_id = also_bought.customer_id
            and bought.product_id != also_bought.product_id
    group by bought.product_id, also_bought.product_id
    having count(*) >= {{ var('affinity_min_customers') }}

),

product_pairs_with_counts as (

    select
        product_pairs.product_id,
        product_pairs.also_bought_product_id,
        product_pairs.customers_with_both,
        cast(product_buyers.customers_with_product as {{ dbt.type_float() }}) as customers_with_product,
        cast(also_bought_buyers.customers_with_product as {{ dbt.type_float() }}) as customers_with_also_bought,
        cast(buyers.buyer_count as {{ dbt.type_float() }}) as buyer_count

    from product_pairs
    inner join product_buyers
        on product_pairs.product_id = product_buyers.product_id
    inner join product_buyers as also_bought_buyers
        on product_pairs.also_bought_product_id = also_bought_buyers.product_id
    cross join buyers

),

product_pairs_scored as (

    select
        product_id,
        also_bought_product_id,
        customers_with_both,
        customers_with_both / customers_with_product as confidence,
        customers_with_both / customers_with_product / (customers_with_also_bought / buyer_count) as lift

    from product_pairs_with_counts

),

product_pairs_ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by customers_with_both desc, lift desc, also_bought_product_id asc
        ) as affinity_rank

    from product_pairs_scored

),

final as (

    select
        product_id,
        also_bought_product_id,
        affinity_rank,
        customers_with_both,
        confidence,
        lift

    from product_pairs_ranked
    where affinity_rank <= {{ var('affinity_top_n') }}

)

select * from final
