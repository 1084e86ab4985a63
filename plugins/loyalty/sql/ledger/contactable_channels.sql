{#- Which channels one audience row may be contacted on now (`loyalty preview`): the contact-permission rule of
    dbt_project/macros/contact_permission.sql on the row's consent and address (`contact_columns`:
    loyalty.specs.CHANNEL_CONSENT) and on loyalty.contactability as it is, matched as plan_action.sql matches it
    (email addresses lower-cased). One boolean column per channel. -#}
{%- from "contact_permission.sql" import channel_is_contactable -%}
with

audience_row as (
    select %(context)s::jsonb as context
),

checked as (
    select
        audience_row.context,
{%- for channel, (address, consent) in contact_columns.items() %}
        exists(
            select 1 from loyalty.contactability as contact
            where
                contact.channel = '{{ channel }}'
                and contact.address = {% if channel == 'email' %}lower(audience_row.context ->> '{{ address }}'){% else %}audience_row.context ->> '{{ address }}'{% endif %}
                and not contact.is_contactable
        ) as is_{{ channel }}_suppressed{{ "," if not loop.last }}
{%- endfor %}
    from audience_row
)

select
{%- for channel, (address, consent) in contact_columns.items() %}
    {{ channel_is_contactable("(checked.context ->> '" ~ consent ~ "')::boolean", "checked.context ->> '" ~ address ~ "'", "checked.is_" ~ channel ~ "_suppressed") }} as {{ channel }}{{ "," if not loop.last }}  -- noqa: LT05
{%- endfor %}
from checked
