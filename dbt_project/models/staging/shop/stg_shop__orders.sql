with

source as (

    select * from {{ source('shop', 'orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        ordered_at,
        {{ loyalty.utc_date('ordered_at') }} as ordered_date,
        lower(status) as status,
        lower(status) = 'completed' as is_completed,
        order_total,
        loaded_at

    from source

)

select * from renamed
