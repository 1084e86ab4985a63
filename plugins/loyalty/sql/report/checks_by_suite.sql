-- Great Expectations checks per suite and expectation type: how many ran, failed, and the unexpected values.
select
    suite_kind,
    suite_name,
    expectation_type,
    count(*)::int as checks,
    count(*) filter (where not is_success)::int as failed,
    coalesce(sum(unexpected_count), 0)::bigint as unexpected_values
from marts.data_quality_results
group by 1, 2, 3
order by 1, 2, 3
