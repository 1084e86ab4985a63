-- Points earned, granted by rewards and expired per month, and what was outstanding at each month's last day.
select
    date_trunc('month', activity_date)::date as "month",
    sum(points_earned)::bigint as points_earned,
    sum(points_rewarded)::bigint as points_rewarded,
    sum(points_expired)::bigint as points_expired,
    (array_agg(points_outstanding order by activity_date desc))[1] as points_outstanding,
    (array_agg(liability_value order by activity_date desc))[1] as liability_value
from marts.metrics_points_liability
group by 1
order by 1
