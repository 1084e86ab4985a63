{#
    dbt's `relationships` for a model whose rows arrive day by day: fails for every value of
    `column_name`, among the rows that match `recent`, that no row of `to` holds in `field`. Each
    recent value is looked up in `to` on its own, through `field`'s index: a day's few thousand order
    lines against three million orders, where a join lets the planner hash all of `to` (a `where:`
    config filters only the model's side).
    `recent` is `__loaded_since_previous_build__` (macros/incremental.sql), alone or `or` another
    condition. When that window is every row (--full-refresh, no previous build) this is dbt's
    `relationships`, one join. Nulls pass, as in `relationships`.
#}
{% test relationships_where_recent(model, column_name, to, field, recent) %}

{%- set window = loyalty.loaded_since_previous_build_condition('loaded_at') %}

with

{% if window == '(1 = 1)' %}

    child as (

        select {{ column_name }} as from_field
        from {{ model }}
        where {{ column_name }} is not null

    ),

    orphans as (

        select child.from_field
        from child
        left join {{ to }} as parent
            on child.from_field = parent.{{ field }}
        where parent.{{ field }} is null

    )

{% else %}

    recent_values as (

        select distinct {{ column_name }} as from_field
        from {{ model }}
        where
            ({{ recent | replace('__loaded_since_previous_build__', window) }})
            and {{ column_name }} is not null

    ),

    -- A correlated count, one index lookup per recent value (an anti-join would let the planner
    -- read all of `to` to hash it).
    orphans as (

        select recent_values.from_field
        from recent_values
        where (
            select count(*) from {{ to }} as parent
            where parent.{{ field }} = recent_values.from_field
        ) = 0

    )

{% endif %}

select * from orphans

{% endtest %}
