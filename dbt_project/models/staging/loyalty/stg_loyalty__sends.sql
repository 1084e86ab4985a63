with

source as (

    select * from {{ source('loyalty', 'send_ledger') }}

),

renamed as (

    select
        send_id,
        workflow_id,
        step_id,
        customer_id,
        cycle_key,
        channel_attempt,
        run_date,
        variant,
        is_holdout,
        channel,
        recipient,
        status,
        status_reason,
        batch_id,
        attempts,
        provider_message_id,
        created_at,
        sent_at,
        updated_at

    from source

)

select * from renamed
