"""Data quality with Great Expectations 1.x (code-first): raw data, features, audiences.

- `check_audience(url, spec, run_date)`: the gate between planning and sending — today's planned
  messages of one workflow: size within a band of its history, no opted-out or suppressed contact,
  consent on the channel, valid addresses. Returns `AudienceCheck(passed, reasons)`.
- `check_raw(url, run_date)`: schema, ranges, uniqueness and referential checks of the raw tables;
  failing rows go to raw.quarantine with rule `expectation:<type>:<column>`.
- `check_features(url, run_date)`: distribution drift of dim_customers' features against the
  previous run date.

Every expectation's result lands in raw.quality_results. Suites are built in loyalty.quality.suites;
nothing is built at import or DAG-parse time (Great Expectations is imported inside the functions).
"""

from loyalty.quality.checks import (
    AudienceCheck,
    AudienceCheckFailed,
    QualityCheckFailed,
    QualityReport,
    check_audience,
    check_features,
    check_raw,
)

__all__ = [
    "AudienceCheck",
    "AudienceCheckFailed",
    "QualityCheckFailed",
    "QualityReport",
    "check_audience",
    "check_features",
    "check_raw",
]
