{#- The messages one workflow planned for a run date (ledger rows still pending, rewards excepted), as the
    audience gate validates them: the recipient by channel, consent on the channel as raw.customers holds
    it now (the consent half of dbt_project/macros/contact_permission.sql, the rule the plan applied) and
    whether the address is on the global suppression list (loyalty.contactability), each reported apart. -#}
{%- from "contact_permission.sql" import channel_has_consent -%}
select
    sends.send_id,
    sends.customer_id,
    sends.step_id,
    sends.channel,
    sends.recipient,
    case when sends.channel = 'email' then sends.recipient end as email_recipient,
    case when sends.channel = 'sms' then sends.recipient end as sms_recipient,
    case sends.channel
{%- for channel, (address, consent) in contact_columns.items() %}
        when '{{ channel }}' then {{ channel_has_consent('customers.' ~ consent, 'sends.recipient') }}
{%- endfor %}
        else false
    end as has_consent,
    exists(
        select 1 from loyalty.contactability as contact
        where contact.channel = sends.channel
            and contact.address = case when sends.channel = 'email' then lower(sends.recipient) else sends.recipient end
            and not contact.is_contactable
    ) as is_suppressed
from loyalty.send_ledger as sends
left join raw.customers as customers
    on sends.customer_id = customers.customer_id
where sends.workflow_id = %(workflow_id)s
    and sends.run_date = %(run_date)s
    and sends.status = 'pending'
    and sends.channel <> 'reward'
order by sends.send_id
