-- Quarantined rows per source table, rule and scope, the largest first.
select
    source_table,
    quarantine_rule,
    quarantine_scope,
    count(*)::int as "rows"
from marts.data_quality_quarantine
group by source_table, quarantine_rule, quarantine_scope
order by "rows" desc, source_table asc, quarantine_rule asc, quarantine_scope asc
