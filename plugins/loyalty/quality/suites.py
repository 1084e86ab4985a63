"""The expectation suites, as plain functions returning Great Expectations 1.x suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations import ExpectationSuite

EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"
PUSH_TOKEN_MAX_LENGTH = 4096  # dbt_project.yml push_token_max_length (malformed_push_token); FCM tokens are ~160
ORDER_STATUSES = ["completed", "cancelled", "refunded", "pending"]


def great_expectations() -> tuple[Any, Any]:
    """`great_expectations` and its `expectations` module, imported on first use. GX 1.x imports the
    deprecated stdlib module `sre_constants`; that warning is GX's, not ours, so it is silenced here only."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
        import great_expectations.expectations as gxe
    return gx, gxe


def _suite(name: str, expectations: list[Any]) -> gx.ExpectationSuite:
    gx, _ = great_expectations()
    suite: ExpectationSuite = gx.ExpectationSuite(name=name, expectations=expectations)
    return suite


def audience_suite(workflow_id: str, size_band: tuple[int, int] | None) -> gx.ExpectationSuite:
    """Today's planned messages of one workflow, one row per ledger row about to be sent."""
    _, gxe = great_expectations()

    expectations = [
        gxe.ExpectColumnValuesToNotBeNull(column="recipient"),
        gxe.ExpectColumnValuesToBeInSet(column="is_suppressed", value_set=[False]),
        gxe.ExpectColumnValuesToBeInSet(column="has_consent", value_set=[True]),
        gxe.ExpectColumnValuesToMatchRegex(column="email_recipient", regex=EMAIL_REGEX),
        gxe.ExpectColumnValuesToMatchRegex(column="sms_recipient", regex=E164_REGEX),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "step_id"]),
    ]
    if size_band is not None:
        expectations.append(gxe.ExpectTableRowCountToBeBetween(min_value=size_band[0], max_value=size_band[1]))
    return _suite(f"audience_{workflow_id}", expectations)


def raw_suites() -> dict[str, gx.ExpectationSuite]:
    """One suite per raw table; `has_known_*` columns are the referential checks, computed in SQL."""
    _, gxe = great_expectations()

    return {
        "customers": _suite(
            "raw_customers",
            [
                gxe.ExpectTableColumnsToMatchSet(
                    column_set=[
                        "customer_id",
                        "email",
                        "phone",
                        "first_name",
                        "locale",
                        "timezone",
                        "birthday",
                        "signup_at",
                        "email_consent",
                        "sms_consent",
                        "push_consent",
                        "loaded_at",
                        "push_token",
                    ],
                    exact_match=False,
                ),
                gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
                gxe.ExpectColumnValuesToBeUnique(column="customer_id"),
                gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX),
                gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=E164_REGEX),
                gxe.ExpectColumnValueLengthsToBeBetween(
                    column="push_token", min_value=1, max_value=PUSH_TOKEN_MAX_LENGTH
                ),
                gxe.ExpectColumnValuesToNotBeNull(column="signup_at"),
            ],
        ),
        "orders": _suite(
            "raw_orders",
            [
                gxe.ExpectTableColumnsToMatchSet(
                    column_set=["order_id", "customer_id", "ordered_at", "status", "order_total", "loaded_at"],
                    exact_match=False,
                ),
                gxe.ExpectColumnValuesToBeUnique(column="order_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
                gxe.ExpectColumnValuesToBeBetween(column="order_total", min_value=0, max_value=100_000),
                gxe.ExpectColumnValuesToBeInSet(column="status", value_set=ORDER_STATUSES),
                gxe.ExpectColumnValuesToBeInSet(column="has_known_customer", value_set=[True]),
            ],
        ),
        "order_lines": _suite(
            "raw_order_lines",
            [
                gxe.ExpectTableColumnsToMatchSet(
                    column_set=["order_line_id", "order_id", "product_id", "quantity", "unit_price", "loaded_at"],
                    exact_match=False,
                ),
                gxe.ExpectColumnValuesToBeUnique(column="order_line_id"),
                gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1, max_value=1_000),
                gxe.ExpectColumnValuesToBeBetween(column="unit_price", min_value=0, max_value=100_000),
                gxe.ExpectColumnValuesToBeInSet(column="has_known_order", value_set=[True]),
                gxe.ExpectColumnValuesToBeInSet(column="has_known_product", value_set=[True]),
            ],
        ),
    }


def features_suite(previous: dict[str, dict[str, float]], tolerance: float) -> gx.ExpectationSuite:
    """Each feature's mean within `tolerance` (relative) of the previous run date's, and its null share
    no higher than before plus 5 points."""
    _, gxe = great_expectations()

    expectations: list[Any] = []
    for column, stats in previous.items():
        mean = stats["mean"]
        margin = abs(mean) * tolerance + 1e-9
        expectations.append(
            gxe.ExpectColumnMeanToBeBetween(column=column, min_value=mean - margin, max_value=mean + margin)
        )
        expectations.append(
            gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=max(0.0, 1 - stats["null_share"] - 0.05))
        )
    return _suite("features", expectations)
