-- The points liability on its latest day.
select
    activity_date,
    points_outstanding,
    liability_value
from marts.metrics_points_liability
order by activity_date desc
limit 1
