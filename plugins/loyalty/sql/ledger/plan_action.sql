{#- One journey action (message or reward) for one run date, rendered by loyalty.ledger with Jinja:
    the structure comes from the compiled spec, every value is a bound parameter (%(name)s).
    A row is due when its anchor (entry, or the parent step's send) is at least delay_days old,
    its condition on the parent's events holds as of the run date, and no exit condition happened
    since entry. The channel is the first in the step's order we may contact the customer on: the
    contact-permission rule of dbt_project/macros/contact_permission.sql (the file the warehouse's
    int_customer_contactability uses), evaluated here on the audience row's consent and address
    (`contact_columns`: loyalty.specs.CHANNEL_CONSENT) and on loyalty.contactability as it is now, so
    an unsubscribe that arrived after the day's dbt build counts. Contact policies (plan_policies.sql)
    then decide which due rows are suppressed, with their reason. ON CONFLICT DO NOTHING keeps one
    row per (workflow, step, customer, cycle, channel attempt).
    With `fallback`, the candidates are instead this step's messages whose address proved dead since the
    previous plan (plan_fallback's dead_sends: a hard bounce, a permanent SMS or push failure, not an
    opt-out): each gets, once, a second row (channel_attempt 2) on the next channel of the order we may
    use, never the one that failed; the step's conditions held for the first row and are not asked again. -#}
{%- from "contact_permission.sql" import channel_has_consent, channel_is_contactable -%}
{#- A branch is decided on what happened up to its decision day (the parent's run date + the wait
    before the branch), whatever day the plan runs: the same choice on time, late or in a backfill.
    A wait-until looks up to the run date. #}
{%- set decision_day = "(candidates.anchor_date + %(condition_days)s::int + 1)" -%}
{%- set run_day = "(%(run_date)s::date + 1)" -%}
{%- macro event_exists(events_param, before) -%}
exists (
            select 1
            from raw.message_events as parent_event
            where parent_event.send_id = candidates.parent_send_id
                and parent_event.event_type = any(%({{ events_param }})s)
                and parent_event.occurred_at < {{ before }}::timestamp at time zone 'UTC'
        )
{%- endmacro -%}
{%- macro purchased_since_anchor(before) -%}
exists (
            select 1
            from raw.orders as later_order
            where later_order.customer_id = candidates.customer_id
                and later_order.status = 'completed'
                and later_order.ordered_at >= (candidates.anchor_date + 1)::timestamp at time zone 'UTC'
                and later_order.ordered_at < {{ before }}::timestamp at time zone 'UTC'
        )
{%- endmacro -%}
{%- macro address(relation, channel) -%}
{%- if channel == 'reward' -%}null
{%- else -%}{{ relation }}.context ->> '{{ contact_columns[channel][0] }}'
{%- endif -%}
{%- endmacro -%}
{%- macro entry_columns() -%}
{#- What every candidate carries from its journey entry. -#}
entry.customer_id,
        entry.cycle_key,
        entry.variant,
        entry.is_holdout,
        entry.is_global_holdout,
        entry.context,
        entry.entered_on
{%- endmacro -%}
{%- macro consent(channel) -%}
(checked.context ->> '{{ contact_columns[channel][1] }}')::boolean
{%- endmacro -%}
{%- macro contact_address(channel) -%}
{%- if channel == 'email' -%}lower({{ address('due', channel) }})
{%- else -%}{{ address('due', channel) }}
{%- endif -%}
{%- endmacro -%}
with {% if fallback %}dead_sends as (
    -- Dead-address verdicts since the previous plan (all of them without one), each traced to the message
    -- that found it: an event about a send (a hard bounce, a permanent SMS error callback) or the send's
    -- own refusal (loyalty.ledger.record_outcomes writes 'ledger:<send_id>').
    select
        case
            when verdict.source_event_id like 'ledger:%%' then substr(verdict.source_event_id, 8)
            else verdict_event.send_id
        end as send_id
    from loyalty.contactability as verdict
    left join raw.message_events as verdict_event
        on verdict_event.event_id = verdict.source_event_id
    where not verdict.is_contactable
        and verdict.reason = any(%(dead_address_reasons)s)
{%- if windowed %}
        and verdict.updated_at >= %(planned_at)s::timestamptz - interval '1 hour'
{%- endif %}
),

candidates as (
    -- The step's first-attempt messages that met a dead address, within the step's validity window.
    select
        {{ entry_columns() }},
        failed.run_date as anchor_date,
        failed.send_id as parent_send_id,
        failed.channel as failed_channel
    from dead_sends
    inner join loyalty.send_ledger as failed
        on failed.send_id = dead_sends.send_id
    inner join loyalty.journey_entries as entry
        on
            failed.workflow_id = entry.workflow_id
            and failed.customer_id = entry.customer_id
            and failed.cycle_key = entry.cycle_key
    where failed.workflow_id = %(workflow_id)s
        and failed.step_id = %(step_id)s
        and failed.channel_attempt = 1
        and failed.status in ('sent', 'failed')
        and failed.run_date + greatest(%(valid_days)s::int, 1) >= %(run_date)s
{%- else %}candidates as (
{%- if first %}
    -- The first action: anchored on journey entry; holdout customers get a row too (never sent).
    select
        {{ entry_columns() }},
        entry.entered_on as anchor_date,
        null::text as parent_send_id
    from loyalty.journey_entries as entry
    where entry.workflow_id = %(workflow_id)s
        and entry.entered_on + %(delay_days)s::int <= %(run_date)s
{%- if windowed %}
        -- Not the whole history: the plan of planned_through (the latest completed plan before this
        -- run date) planned every entry due by then; what is left was entered or fell due since.
        and (
            entry.run_date > %(planned_through)s
            or entry.entered_on > %(planned_through)s::date - %(delay_days)s::int
        )
{%- endif %}
{%- else %}
    -- A later action: anchored on the parent step's send; only treated customers continue.
    select
        {{ entry_columns() }},
        parent.run_date as anchor_date,
        parent.send_id as parent_send_id
    from loyalty.send_ledger as parent
    inner join loyalty.journey_entries as entry
        on
            parent.workflow_id = entry.workflow_id
            and parent.customer_id = entry.customer_id
            and parent.cycle_key = entry.cycle_key
    where parent.workflow_id = %(workflow_id)s
        and parent.step_id = any(%(parent_steps)s)
        and parent.status = 'sent'
        and parent.run_date + %(delay_days)s::int <= %(run_date)s
        -- A message followed by a fallback on another channel: the journey goes on from the fallback.
        and not exists (
            select 1
            from loyalty.send_ledger as fallback
            where fallback.workflow_id = parent.workflow_id
                and fallback.step_id = parent.step_id
                and fallback.customer_id = parent.customer_id
                and fallback.cycle_key = parent.cycle_key
                and fallback.channel_attempt > parent.channel_attempt
        )
{%- if windowed %}
        -- Not the step's whole history: the plan of planned_through took every parent row due by
        -- then; what is left fell due since (or is still waiting for its until-event), or was sent
        -- after that plan began (a deferred or reconciled send; an hour's margin for a send
        -- transaction that began before it and committed after).
        and (
            parent.run_date > %(planned_through)s::date - %(window_days)s::int
            or parent.updated_at >= %(planned_at)s::timestamptz - interval '1 hour'
        )
{%- endif %}
{%- endif %}
{%- endif %}
),

due as (
    select candidates.*
    from candidates
    where true
{%- if fallback %}
{%- elif condition == 'purchased' %}
        and {% if condition_negated %}not {% endif %}{{ purchased_since_anchor(decision_day) }}
{%- elif condition %}
        and {% if condition_negated %}not {% endif %}{{ event_exists('condition_events', decision_day) }}
{%- endif %}
{%- if siblings and not fallback %}
        -- One arm per customer: not when the branch's other arm already has a row (an event reported
        -- after the decision day must not add the arm it would have chosen).
        and not exists (
            select 1
            from loyalty.send_ledger as other_arm
            where other_arm.workflow_id = %(workflow_id)s
                and other_arm.step_id = any(%(sibling_steps)s)
                and other_arm.customer_id = candidates.customer_id
                and other_arm.cycle_key = candidates.cycle_key
        )
{%- endif %}
{%- if fallback %}
{%- elif until == 'purchased' %}
        and {{ purchased_since_anchor(run_day) }}
        and %(run_date)s <= candidates.anchor_date + %(until_max_days)s::int
{%- elif until %}
        and {{ event_exists('until_events', run_day) }}
        and %(run_date)s <= candidates.anchor_date + %(until_max_days)s::int
{%- endif %}
{%- if exit_on_purchase %}
        and not exists (
            select 1
            from raw.orders as exit_order
            where exit_order.customer_id = candidates.customer_id
                and exit_order.status = 'completed'
                and exit_order.ordered_at >= (candidates.entered_on + 1)::timestamp at time zone 'UTC'
                and exit_order.ordered_at < (%(run_date)s::date + 1)::timestamp at time zone 'UTC'
        )
{%- endif %}
{%- if exit_on_unsubscribe %}
        and not exists (
            select 1
            from loyalty.send_ledger as earlier_send
            inner join raw.message_events as unsubscribe
                on unsubscribe.send_id = earlier_send.send_id
            where earlier_send.workflow_id = %(workflow_id)s
                and earlier_send.customer_id = candidates.customer_id
                and earlier_send.cycle_key = candidates.cycle_key
                and unsubscribe.event_type in ('unsubscribe', 'group_unsubscribe', 'spamreport')
                and unsubscribe.occurred_at < (%(run_date)s::date + 1)::timestamp at time zone 'UTC'
        )
{%- endif %}
),

checked as (
    -- The global suppression list: addresses the providers or the customer turned off
    -- (unsubscribe, spam report, hard bounce, STOP, a dead number or device token). A reward has no
    -- address: then due.* is the one column.
    select{% if channels == ['reward'] %}  -- noqa: LT09{% endif %}
        due.*
{%- for channel in channels if channel != 'reward' %},
        {{ channel }}_blocked.address is not null as is_{{ channel }}_suppressed
{%- endfor %}
    from due
{%- for channel in channels if channel != 'reward' %}
    left join loyalty.contactability as {{ channel }}_blocked
        on
            {{ channel }}_blocked.channel = '{{ channel }}'
            and {{ channel }}_blocked.address = {{ contact_address(channel) }}
            and not {{ channel }}_blocked.is_contactable
{%- endfor %}
),

channel_chosen as (
    -- Channel fallback: the first channel in the step's order we may contact the customer on
    -- (consent, an address, no suppression); with `preferred`, the customer's preferred channel
    -- before the order when it is one of the step's and we may use it. A reward needs no permission.
    select
        checked.*,
        case
{%- if prefers %}
{%- for channel in channels %}
            when
                checked.context ->> 'preferred_channel' = '{{ channel }}'
                and {{ channel_is_contactable(consent(channel), address('checked', channel), 'checked.is_' ~ channel ~ '_suppressed') }}  -- noqa: LT05
{%- if fallback %}
                and checked.failed_channel <> '{{ channel }}'
{%- endif %}
                then '{{ channel }}'
{%- endfor %}
{%- endif %}
{%- for channel in channels %}
{%- if channel == 'reward' %}
            when true then 'reward'
{%- else %}
            when
                {{ channel_is_contactable(consent(channel), address('checked', channel), 'checked.is_' ~ channel ~ '_suppressed') }}  -- noqa: LT05
{%- if fallback %}
                and checked.failed_channel <> '{{ channel }}'
{%- endif %}
                then '{{ channel }}'
{%- endif %}
{%- endfor %}
        end as channel,
        false
{%- for channel in channels if channel != 'reward' %}
        or (
            {{ channel_has_consent(consent(channel), address('checked', channel)) }}
            and checked.is_{{ channel }}_suppressed
        )
{%- endfor %} as has_suppressed_channel
    from checked
),

routed as (
    -- Only what the policies and the insert need, the recipient resolved here: the policies read
    -- this twice, so Postgres materialises it, and the audience row (context) carried along was
    -- written to a temporary file with every row (~300 MB for 1M rows).
    select
        chosen.customer_id,
        chosen.cycle_key,
        chosen.variant,
        chosen.is_holdout,
        chosen.is_global_holdout,
        chosen.channel,
        chosen.has_suppressed_channel,
        case chosen.channel
{%- for channel in channels %}
            when '{{ channel }}' then {{ address('chosen', channel) }}
{%- endfor %}
        end as recipient
    from channel_chosen as chosen
),

-- include: ledger/plan_policies.sql

{#- The audience row (context) is not copied: it stays in loyalty.journey_entries, written once at
    entry, and the claim reads it from there by the entry's key (workflow, customer, cycle). #}
insert into loyalty.send_ledger (
    send_id, workflow_id, step_id, customer_id, cycle_key, run_date, variant, is_holdout,
    channel, recipient, status, status_reason, priority, valid_until, channel_attempt
)
select
{%- if fallback %}
    md5(%(workflow_id)s || ':' || %(step_id)s || ':' || decided.customer_id || ':' || decided.cycle_key || ':2')
        as send_id,
{%- else %}
    md5(%(workflow_id)s || ':' || %(step_id)s || ':' || decided.customer_id || ':' || decided.cycle_key) as send_id,
{%- endif %}
    %(workflow_id)s,
    %(step_id)s,
    decided.customer_id,
    decided.cycle_key,
    %(run_date)s,
    decided.variant,
    decided.is_holdout,
    coalesce(decided.channel, %(first_channel)s) as channel,
    decided.recipient,
    decided.status,
    decided.status_reason,
    %(priority)s,
    -- The last run date a message may go out on (a deferred one included); none for a reward.
    case when decided.channel <> 'reward' then %(run_date)s::date + %(valid_days)s::int end as valid_until,
    {{ 2 if fallback else 1 }} as channel_attempt
from decided
{%- if fallback %}
where decided.channel is not null  -- no other channel we may use: the failed message stays the step's only one
{%- endif %}
on conflict (workflow_id, step_id, customer_id, cycle_key, channel_attempt) do nothing
