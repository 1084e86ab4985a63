with

source as (

    select * from {{ source('shop', 'products') }}

),

renamed as (

    select
        product_id,
        product_name,
        category as product_category,
        unit_price,
        loaded_at

    from source

)

select * from renamed
