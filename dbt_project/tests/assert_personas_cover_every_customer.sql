-- Every customer of the run date has a persona (the seed personas ends with catch-all rules).
-- Returns the customers without one.

select customer_id
from {{ ref('customer_segments') }}
where
    run_date = {{ loyalty.run_date() }}
    and persona is null
