with

source as (

    select * from {{ source('providers', 'message_events') }}

),

renamed as (

    select
        event_id,
        provider,
        send_id,
        provider_message_id,
        lower(event_type) as event_type,
        occurred_at,
        received_at

    from source

)

select * from renamed
