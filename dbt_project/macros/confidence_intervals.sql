{#
    Confidence intervals for proportions, as plain SQL expressions (sqrt and arithmetic only).

    wilson_lower / wilson_upper: the Wilson score interval for `successes` out of `trials`
    (Wilson 1927). With p = x / n:
        center     = (p + z^2 / 2n) / (1 + z^2 / n)
        half_width = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

    newcombe_lower / newcombe_upper: the hybrid score interval for the difference p1 - p2 of two
    independent proportions (Newcombe 1998, method 10), built from each arm's Wilson interval
    (l1, u1) and (l2, u2):
        lower = (p1 - p2) - sqrt((p1 - l1)^2 + (u2 - p2)^2)
        upper = (p1 - p2) + sqrt((u1 - p1)^2 + (p2 - l2)^2)
    Newcombe's example: 56/70 vs 48/80 gives 0.2000 with the 95% interval [0.0524, 0.3339].

    All return null when an arm has no trials. z = 1.959964 gives a 95% interval.
#}

{% macro proportion(successes, trials) -%}
    (cast({{ successes }} as {{ dbt.type_float() }}) / nullif(cast({{ trials }} as {{ dbt.type_float() }}), 0))
{%- endmacro %}

{% macro wilson_center(successes, trials, z) -%}
    (({{ loyalty.proportion(successes, trials) }} + {{ z }} * {{ z }} / (2 * cast({{ trials }} as {{ dbt.type_float() }})))
        / (1 + {{ z }} * {{ z }} / cast({{ trials }} as {{ dbt.type_float() }})))
{%- endmacro %}

{% macro wilson_half_width(successes, trials, z) -%}
    ({{ z }} / (1 + {{ z }} * {{ z }} / cast({{ trials }} as {{ dbt.type_float() }}))
        * sqrt(
            {{ loyalty.proportion(successes, trials) }} * (1 - {{ loyalty.proportion(successes, trials) }})
                / cast({{ trials }} as {{ dbt.type_float() }})
            + {{ z }} * {{ z }} / (4 * cast({{ trials }} as {{ dbt.type_float() }}) * cast({{ trials }} as {{ dbt.type_float() }}))
        ))
{%- endmacro %}

{% macro wilson_lower(successes, trials, z=1.959964) -%}
    (case when {{ trials }} > 0 then
        {{ loyalty.wilson_center(successes, trials, z) }} - {{ loyalty.wilson_half_width(successes, trials, z) }}
    end)
{%- endmacro %}

{% macro wilson_upper(successes, trials, z=1.959964) -%}
    (case when {{ trials }} > 0 then
        {{ loyalty.wilson_center(successes, trials, z) }} + {{ loyalty.wilson_half_width(successes, trials, z) }}
    end)
{%- endmacro %}

{% macro newcombe_lower(successes_1, trials_1, successes_2, trials_2, z=1.959964) -%}
    (
        {{ loyalty.proportion(successes_1, trials_1) }} - {{ loyalty.proportion(successes_2, trials_2) }}
        - sqrt(
            ({{ loyalty.proportion(successes_1, trials_1) }} - {{ loyalty.wilson_lower(successes_1, trials_1, z) }})
                * ({{ loyalty.proportion(successes_1, trials_1) }} - {{ loyalty.wilson_lower(successes_1, trials_1, z) }})
            + ({{ loyalty.wilson_upper(successes_2, trials_2, z) }} - {{ loyalty.proportion(successes_2, trials_2) }})
                * ({{ loyalty.wilson_upper(successes_2, trials_2, z) }} - {{ loyalty.proportion(successes_2, trials_2) }})
        )
    )
{%- endmacro %}

{% macro newcombe_upper(successes_1, trials_1, successes_2, trials_2, z=1.959964) -%}
    (
        {{ loyalty.proportion(successes_1, trials_1) }} - {{ loyalty.proportion(successes_2, trials_2) }}
        + sqrt(
            ({{ loyalty.wilson_upper(successes_1, trials_1, z) }} - {{ loyalty.proportion(successes_1, trials_1) }})
                * ({{ loyalty.wilson_upper(successes_1, trials_1, z) }} - {{ loyalty.proportion(successes_1, trials_1) }})
            + ({{ loyalty.proportion(successes_2, trials_2) }} - {{ loyalty.wilson_lower(successes_2, trials_2, z) }})
                * ({{ loyalty.proportion(successes_2, trials_2) }} - {{ loyalty.wilson_lower(successes_2, trials_2, z) }})
        )
    )
{%- endmacro %}

{#
    A rate, lift or interval bound as a decimal with 6 places: exact to compare and to display,
    and far below any difference an experiment of this size can resolve.
#}
{% macro round_rate(expression) -%}
    round(cast({{ expression }} as {{ dbt.type_numeric() }}), 6)
{%- endmacro %}
