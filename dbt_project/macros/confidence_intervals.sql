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
    {#- dbt's type_numeric() is `numeric(28,6)` on Postgres: spaced like the rest of our SQL. -#}
    round(cast({{ expression }} as {{ dbt.type_numeric() | replace(',', ', ') }}), 6)
{%- endmacro %}

{#
    Further statistics for the metric marts, as portable SQL expressions (sqrt, exp, ln, power, abs).

    normal_cdf(x): the standard normal CDF, Φ(x) = (1 + erf(x / √2)) / 2, with erf from Abramowitz and
    Stegun 7.1.26 (absolute error < 1.5e-7).

    chi_square_p_value(statistic, degrees): P(X ≥ statistic) for a chi-square with `degrees` degrees of
    freedom: closed forms for 1–4 degrees (1: 2 (1 − Φ(√x)); 2: e^(−x/2); 3: 2 (1 − Φ(√x)) + √(2x/π) e^(−x/2);
    4: e^(−x/2) (1 + x/2)), the Wilson–Hilferty cube-root normal approximation beyond (a workflow with
    up to three variants and a holdout never needs it).

    t_quantile_975(degrees): the 97.5% quantile of Student's t, by the Cornish–Fisher expansion in
    1/df around z = 1.959964 (three terms: within 3e-3 for df ≥ 5, 2e-4 for df ≥ 10, exact in the limit).

    welch_*: the Welch two-sample interval for a difference of means from each arm's count, sum and sum of
    squares (so cumulative windows can use it): se = √(s1²/n1 + s2²/n2) and Welch–Satterthwaite degrees.

    katz_*: the Katz log interval of a ratio of two proportions (relative lift = ratio − 1).
#}

{% macro normal_cdf(x) -%}
    (0.5 * (1 + sign({{ x }}) * (1 - (
        0.254829592 * (1 / (1 + 0.3275911 * abs({{ x }}) / sqrt(2.0)))
        - 0.284496736 * power(1 / (1 + 0.3275911 * abs({{ x }}) / sqrt(2.0)), 2)
        + 1.421413741 * power(1 / (1 + 0.3275911 * abs({{ x }}) / sqrt(2.0)), 3)
        - 1.453152027 * power(1 / (1 + 0.3275911 * abs({{ x }}) / sqrt(2.0)), 4)
        + 1.061405429 * power(1 / (1 + 0.3275911 * abs({{ x }}) / sqrt(2.0)), 5)
    ) * exp(-({{ x }}) * ({{ x }}) / 2))))
{%- endmacro %}

{% macro chi_square_p_value(statistic, degrees) -%}
    {%- set x = 'cast(' ~ statistic ~ ' as ' ~ dbt.type_float() ~ ')' -%}
    (case
        when {{ degrees }} is null or {{ degrees }} < 1 or {{ statistic }} is null then null
        when {{ statistic }} <= 0 then 1.0
        when {{ degrees }} = 1 then 2 * (1 - {{ loyalty.normal_cdf('sqrt(' ~ x ~ ')') }})
        when {{ degrees }} = 2 then exp(-{{ x }} / 2)
        when {{ degrees }} = 3 then
            2 * (1 - {{ loyalty.normal_cdf('sqrt(' ~ x ~ ')') }}) + sqrt(2 * {{ x }} / 3.141592653589793) * exp(-{{ x }} / 2)
        when {{ degrees }} = 4 then exp(-{{ x }} / 2) * (1 + {{ x }} / 2)
        else 1 - {{ loyalty.normal_cdf(
            '(power(' ~ x ~ ' / ' ~ degrees ~ ', 1.0 / 3) - (1 - 2.0 / (9 * ' ~ degrees ~ ')))'
            ~ ' / sqrt(2.0 / (9 * ' ~ degrees ~ '))'
        ) }}
    end)
{%- endmacro %}

{% macro t_quantile_975(degrees) -%}
    (1.959964 + 2.372271 / ({{ degrees }}) + 2.822499 / (({{ degrees }}) * ({{ degrees }}))
        + 2.555850 / (({{ degrees }}) * ({{ degrees }}) * ({{ degrees }})))
{%- endmacro %}

{% macro sample_variance(n, total, sum_of_squares) -%}
    (case when {{ n }} > 1 then
        ((cast({{ sum_of_squares }} as {{ dbt.type_float() }})
            - cast({{ total }} as {{ dbt.type_float() }}) * cast({{ total }} as {{ dbt.type_float() }}) / {{ n }})
            / ({{ n }} - 1))
    end)
{%- endmacro %}

{% macro welch_standard_error(n1, total1, squares1, n2, total2, squares2) -%}
    sqrt(
        {{ loyalty.sample_variance(n1, total1, squares1) }} / {{ n1 }}
        + {{ loyalty.sample_variance(n2, total2, squares2) }} / {{ n2 }}
    )
{%- endmacro %}

{% macro welch_degrees(n1, total1, squares1, n2, total2, squares2) -%}
    (power({{ loyalty.sample_variance(n1, total1, squares1) }} / {{ n1 }} + {{ loyalty.sample_variance(n2, total2, squares2) }} / {{ n2 }}, 2)
        / nullif(
            power({{ loyalty.sample_variance(n1, total1, squares1) }} / {{ n1 }}, 2) / ({{ n1 }} - 1)
            + power({{ loyalty.sample_variance(n2, total2, squares2) }} / {{ n2 }}, 2) / ({{ n2 }} - 1),
            0
        ))
{%- endmacro %}

{% macro katz_lower(successes_1, trials_1, successes_2, trials_2, z=1.959964) -%}
    (case when {{ successes_1 }} > 0 and {{ successes_2 }} > 0 then
        exp(
            ln({{ loyalty.proportion(successes_1, trials_1) }} / {{ loyalty.proportion(successes_2, trials_2) }})
            - {{ z }} * sqrt(1.0 / {{ successes_1 }} - 1.0 / {{ trials_1 }} + 1.0 / {{ successes_2 }} - 1.0 / {{ trials_2 }})
        ) - 1
    end)
{%- endmacro %}

{% macro katz_upper(successes_1, trials_1, successes_2, trials_2, z=1.959964) -%}
    (case when {{ successes_1 }} > 0 and {{ successes_2 }} > 0 then
        exp(
            ln({{ loyalty.proportion(successes_1, trials_1) }} / {{ loyalty.proportion(successes_2, trials_2) }})
            + {{ z }} * sqrt(1.0 / {{ successes_1 }} - 1.0 / {{ trials_1 }} + 1.0 / {{ successes_2 }} - 1.0 / {{ trials_2 }})
        ) - 1
    end)
{%- endmacro %}

{#
    Power: the minimum detectable absolute difference of two proportions at two-sided α = 0.05 and
    80% power (z = 1.959964 + 0.841621) with the arms' current sizes, at the pooled rate.
#}
{% macro minimum_detectable_effect(successes_1, trials_1, successes_2, trials_2) -%}
    (2.801585 * sqrt(
        {{ loyalty.proportion(successes_1 ~ ' + ' ~ successes_2, trials_1 ~ ' + ' ~ trials_2) }}
        * (1 - {{ loyalty.proportion(successes_1 ~ ' + ' ~ successes_2, trials_1 ~ ' + ' ~ trials_2) }})
        * (1.0 / nullif({{ trials_1 }}, 0) + 1.0 / nullif({{ trials_2 }}, 0))
    ))
{%- endmacro %}

{#
    Net Promoter Score from counts of promoters (scores 9–10), detractors (0–6) and responses:
    100 × (promoters − detractors) / responses, null without responses; and the half-width of its 95%
    normal-approximation interval. Each answer scores +1, 0 or −1 and NPS / 100 is their mean, whose
    variance is (p + d − (p − d)²) / n with p and d the promoter and detractor shares.
    40 promoters, 10 detractors of 100: NPS 30, half-width 100 × 1.959964 × √((0.5 − 0.09) / 100) = 12.5499.
#}
{% macro net_promoter_score(promoters, detractors, responses) -%}
    (100 * ({{ loyalty.proportion(promoters, responses) }} - {{ loyalty.proportion(detractors, responses) }}))
{%- endmacro %}

{% macro net_promoter_score_half_width(promoters, detractors, responses, z=1.959964) -%}
    {%- set promoter_share = loyalty.proportion(promoters, responses) -%}
    {%- set detractor_share = loyalty.proportion(detractors, responses) -%}
    (case when {{ responses }} > 0 then
        100 * {{ z }} * sqrt(
            ({{ promoter_share }} + {{ detractor_share }}
                - ({{ promoter_share }} - {{ detractor_share }}) * ({{ promoter_share }} - {{ detractor_share }}))
            / cast({{ responses }} as {{ dbt.type_float() }})
        )
    end)
{%- endmacro %}
