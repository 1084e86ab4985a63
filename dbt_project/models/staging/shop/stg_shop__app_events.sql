with

source as (

    select * from {{ source('shop', 'app_events') }}

),

renamed as (

    select
        event_id,
        customer_id,
        lower(event_type) as event_type,
        occurred_at,
        {{ loyalty.utc_date('occurred_at') }} as occurred_date,
        product_id,
        quantity,
        unit_price,
        quantity * unit_price as line_value,
        score,
        order_id,
        loaded_at

    from source

)

select * from renamed
