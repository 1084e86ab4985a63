-- One Great Expectations outcome per expectation of a validation run into raw.quality_results.
insert into raw.quality_results (
    run_date, suite_name, expectation_type, column_name, is_success, element_count, unexpected_count, details
)
values (
    %(run_date)s,
    %(suite_name)s,
    %(expectation_type)s,
    %(column_name)s,
    %(is_success)s,
    %(element_count)s,
    %(unexpected_count)s,
    %(details)s
)
