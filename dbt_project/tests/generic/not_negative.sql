{#
    Fails for every row whose `column_name` is below zero (a balance or a stock that cannot go
    negative); nulls pass (not_null says whether they may exist).
#}
{% test not_negative(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
