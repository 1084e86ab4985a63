-- One row per provider event, with the ledger row it is about (workflow, customer, channel) when
-- the provider echoed a send id. Incremental on received_at with the late-arriving window.

{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['event_id'], 'unique': true}],
        post_hook="{{ loyalty.delete_rows_missing_from(ref('stg_providers__message_events'), 'event_id') }}",
        on_schema_change='append_new_columns',
    )
}}

with

message_events as (

    select * from {{ ref('stg_providers__message_events') }}
    {% if is_incremental() %}
        where {{ loyalty.loaded_since_last_run('received_at', 'received_at') }}
    {% endif %}

),

sends as (

    select * from {{ ref('stg_loyalty__sends') }}

),

final as (

    select
        message_events.event_id,
        message_events.provider,
        message_events.send_id,
        sends.workflow_id,
        sends.step_id,
        cast(sends.customer_id as {{ dbt.type_bigint() }}) as customer_id,
        sends.channel,
        message_events.provider_message_id,
        message_events.event_type,
        message_events.occurred_at,
        {{ loyalty.utc_date('message_events.occurred_at') }} as occurred_date,
        message_events.received_at

    from message_events
    left join sends
        on message_events.send_id = sends.send_id

)

select * from final
