{#
    Churn risk: the MBG/NBD model (Batislam, Denizel & Filiztekin 2007; a variant of Fader, Hardie
    & Lee's BG/NBD, 2005). Its story: while alive, a customer orders at their own Poisson rate λ,
    λ ~ Gamma(r, α) across customers; after every order (the first included) they drop out for good
    with probability p, p ~ Beta(a, b). Nobody sees the dropout; the model infers it from
    x   = repeat orders (completed orders − 1),
    t_x = days from the first to the last order,
    T   = days from the first order to the run date:

        P(alive) = 1 / (1 + a / (b + x) · ((α + T) / (α + t_x))^(r + x))

    A long silence (T − t_x) relative to the customer's own pace lowers P(alive); many orders make
    the same silence less alarming. churn_risk_score = 1 − P(alive).

    Given alive, λ's posterior is Gamma(r + x, α + T), so the chance of at least one order in the
    next `days` days is P(alive) · (1 − ((α + T) / (α + T + days))^(r + x)) — the figure the
    calibration test compares with what the synthetic customers really did.

    Expected orders in the next `days` days (for CLV), a plug-in approximation: with λ̂ = (r + x) / (α + T)
    and p̂ = a / (a + b + x + 1) (the posterior means), orders continue until a dropout, so
        E[orders] = P(alive) · (1 − exp(−λ̂ · p̂ · days)) / p̂.

    Parameters (r, α, a, b) come from the seed churn_model_parameters (fitted by maximum likelihood;
    see its YAML). Arguments are SQL expressions; `parameters` is the relation alias holding them.
#}

{% macro mbg_nbd_p_alive(repeat_orders, days_first_to_last, days_first_to_run_date, parameters='parameters') -%}
    (1.0 / (
        1.0
        + {{ parameters }}.dropout_a / ({{ parameters }}.dropout_b + {{ repeat_orders }})
        * power(
            ({{ parameters }}.rate_alpha + {{ days_first_to_run_date }})
                / ({{ parameters }}.rate_alpha + {{ days_first_to_last }}),
            {{ parameters }}.rate_r + {{ repeat_orders }}
        )
    ))
{%- endmacro %}

{% macro mbg_nbd_p_order_within(days, p_alive, repeat_orders, days_first_to_run_date, parameters='parameters') -%}
    ({{ p_alive }} * (
        1.0 - power(
            ({{ parameters }}.rate_alpha + {{ days_first_to_run_date }})
                / ({{ parameters }}.rate_alpha + {{ days_first_to_run_date }} + {{ days }}),
            {{ parameters }}.rate_r + {{ repeat_orders }}
        )
    ))
{%- endmacro %}

{% macro mbg_nbd_expected_orders_within(days, p_alive, repeat_orders, days_first_to_run_date, parameters='parameters') -%}
    ({{ p_alive }}
        * (1.0 - exp(
            -1.0 * ({{ parameters }}.rate_r + {{ repeat_orders }}) / ({{ parameters }}.rate_alpha + {{ days_first_to_run_date }})
            * {{ parameters }}.dropout_a / ({{ parameters }}.dropout_a + {{ parameters }}.dropout_b + {{ repeat_orders }} + 1)
            * {{ days }}
        ))
        / ({{ parameters }}.dropout_a / ({{ parameters }}.dropout_a + {{ parameters }}.dropout_b + {{ repeat_orders }} + 1)))
{%- endmacro %}
