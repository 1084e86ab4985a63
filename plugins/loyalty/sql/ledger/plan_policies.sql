{# Contact policies for one planned action, included by plan_action.sql after channel routing.
    Decides each due row's status and reason, set-based, before anything is written:
      holdout            held out (status_reason global_holdout when the global holdout did it)
      no_consented_channel / global_suppression   no channel with consent, address and no suppression
      frequency_cap      the customer already has max_messages messages (any workflow, rewards
                         excepted) planned or sent in the rolling window (the spec's cap, else the
                         program's: loyalty.program)
      lower_priority     another workflow already holds the customer's day: its message is out
                         (sending, sent, unknown) or pending with a higher priority (ties: lower
                         workflow id), or its holdout row would have been that message (a holdout
                         row with a recipient holds the day like the message it stands for, so a
                         workflow's holdout and treated customers lose the same lower-priority
                         messages and its lift measures its own message, not what it crowds out).
                         preempt_lower_priority.sql defers the losers planned earlier.
    A row over the cap or outranked is `deferred` (status %(over_limit)s) while the step's validity
    window (valid_days) lasts: release_deferred.sql decides it again on each later run date, here,
    and it is sent on the first day it fits or expires (suppressed, reason expired:<why>). With no
    window it is suppressed at once.
    Quiet hours are not decided here: they defer rows at claim time (defer_quiet_hours.sql). -#}
contenders as (
    select distinct routed.customer_id
    from routed
    where not routed.is_holdout
        and routed.channel is not null
        and routed.channel <> 'reward'
),

{%- if frequency_cap %}

recent_messages as (
    -- Frequency cap: messages of every workflow in (run_date - per_days, run_date].
    select
        earlier.customer_id,
        count(*) as message_count
    from loyalty.send_ledger as earlier
    inner join contenders
        on contenders.customer_id = earlier.customer_id
    where earlier.run_date > %(run_date)s::date - %(cap_days)s::int
        and earlier.run_date <= %(run_date)s
        and earlier.channel <> 'reward'
        and earlier.status in ('pending', 'sending', 'sent', 'unknown')
    group by earlier.customer_id
),
{%- endif %}

outranked as (
    -- Priority: today's messages of other workflows that keep this one out.
    select distinct other.customer_id
    from loyalty.send_ledger as other
    inner join contenders
        on contenders.customer_id = other.customer_id
    where other.run_date = %(run_date)s
        and other.workflow_id <> %(workflow_id)s
        and other.channel <> 'reward'
        and (
            other.status in ('sending', 'sent', 'unknown')
            or (
                (other.status = 'pending' or (other.status = 'holdout' and other.recipient is not null))
                and (
                    coalesce(other.priority, 50) > %(priority)s
                    or (coalesce(other.priority, 50) = %(priority)s and other.workflow_id < %(workflow_id)s)
                )
            )
        )
),

decided as (
    select
        routed.*,
        case
            when routed.is_holdout then 'holdout'
            when routed.channel is null then 'suppressed'
            when routed.channel = 'reward' then 'pending'
{%- if frequency_cap %}
            when recent_messages.message_count >= %(cap_messages)s then %(over_limit)s
{%- endif %}
            when outranked.customer_id is not null then %(over_limit)s
            else 'pending'
        end as status,
        case
            when routed.is_holdout then case when routed.is_global_holdout then 'global_holdout' end
            when routed.channel is null and routed.has_suppressed_channel then 'global_suppression'
            when routed.channel is null then 'no_consented_channel'
            when routed.channel = 'reward' then null
{%- if frequency_cap %}
            when recent_messages.message_count >= %(cap_messages)s then 'frequency_cap'
{%- endif %}
            when outranked.customer_id is not null then 'lower_priority'
        end as status_reason
    from routed
{%- if frequency_cap %}
    left join recent_messages
        on recent_messages.customer_id = routed.customer_id
{%- endif %}
    left join outranked
        on outranked.customer_id = routed.customer_id
)
