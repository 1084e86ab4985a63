"""loyalty.loader.parsing: values in a mapping's date and timestamp formats, strictly (no day or year made up)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from loyalty.loader.entities import APP_EVENTS, CUSTOMERS, ORDER_LINES, Entity
from loyalty.loader.parsing import Formats, check_values, parse_batch, translate_values


def reasons(field: str, values: list[str], formats: Formats) -> list[str | None]:
    """Each value's quarantine reason when it is the customers' `field` (None: it parses)."""
    nulls = pa.nulls(len(values), pa.string())
    batch = parse_batch(CUSTOMERS, {field: pa.array(values, pa.string())}, {field: formats}, nulls, nulls)
    return batch.reason.to_pylist()


class TestStrictFormats:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("2026-03-02 14:05:11 -0300", None),
            ("2026-03-02 14:05:11 +0000", None),
            ("2026-02-30 10:00:00 -0300", "unparseable_timestamp"),
            ("2026-04-31 10:00:00 +0100", "unparseable_timestamp"),
            ("02/03/2026 14:05", "unparseable_timestamp"),
        ],
    )
    def test_a_day_that_does_not_exist_is_refused_with_an_offset_too(self, value: str, reason: str | None) -> None:
        """A format ending in %z (Shopify's `2026-03-02 14:05:11 -0300`) checks the day like any other:
        30 February is not read as 2 March."""
        formats = Formats(timestamp_format="%Y-%m-%d %H:%M:%S %z")
        assert reasons("signup_at", [value], formats) == [reason]

    @pytest.mark.parametrize(
        ("field", "fmt", "value", "reason"),
        [
            ("signup_at", "%d/%m/%Y %H:%M", "14/03/2024 09:12", None),
            ("signup_at", "%d/%m/%Y %H:%M", "4/3/2024 9:12", None),
            ("signup_at", "%d/%m/%Y %H:%M", "14/03/24 09:12", "unparseable_timestamp"),
            ("birthday", "%d/%m/%Y", "15/07/85", "unparseable_date"),
            ("birthday", "%d/%m/%Y", "15/07/1985", None),
            ("birthday", "%d/%m/%y", "15/07/85", None),
        ],
    )
    def test_a_two_digit_year_is_not_the_year_24(self, field: str, fmt: str, value: str, reason: str | None) -> None:
        """%Y wants four digits: `14/03/24` is refused rather than loaded as the year 24 (%y reads it)."""
        formats = Formats(date_format=fmt, timestamp_format=fmt)
        assert reasons(field, [value], formats) == [reason]


class TestValueTranslation:
    def test_a_sources_words_become_ours_and_the_rest_pass_unchanged(self) -> None:
        """`values: {status: {paid: completed}}`: whole values are looked up; unlisted ones and nulls stay."""
        texts = {
            "status": pa.array(["paid", "refunded", None, "paid ", "partially_refunded"], pa.string()),
            "order_id": pa.array(["paid", "b", "c", "d", "e"], pa.string()),
        }
        translated = translate_values(texts, {"status": {"paid": "completed", "partially_refunded": "completed"}})
        assert translated["status"].to_pylist() == ["completed", "refunded", None, "paid ", "completed"]
        assert translated["order_id"].to_pylist() == ["paid", "b", "c", "d", "e"]  # other fields untouched


class TestValueChecks:
    """The entity's value checks run in the stream, after parsing: each row keeps its first failing rule."""

    def checked(self, entity: Entity, texts: dict[str, list[str | None]]) -> list[tuple[str | None, str | None]]:
        arrays = {name: pa.array(values, pa.string()) for name, values in texts.items()}
        length = len(next(iter(arrays.values())))
        formats = dict.fromkeys(arrays, Formats())
        nulls = pa.nulls(length, pa.string())
        parsed = check_values(entity, parse_batch(entity, arrays, formats, nulls, nulls))
        return list(zip(parsed.reason.to_pylist(), parsed.reason_field.to_pylist(), strict=True))

    def test_numbers_compare_as_postgres_stores_them(self) -> None:
        """Quantity is an integer; unit_price numeric text, rounded to cents as Postgres will (-0.004 is 0.00)."""
        assert self.checked(
            ORDER_LINES, {"quantity": ["1", "0", "-2", None, "3"], "unit_price": ["-0.004", "1", "1", "1", "-0.01"]}
        ) == [
            (None, None),
            ("non_positive_quantity", "quantity"),
            ("non_positive_quantity", "quantity"),
            ("missing_required_field", "quantity"),
            ("negative_unit_price", "unit_price"),
        ]

    def test_a_parse_error_comes_before_a_check_and_checks_keep_their_order(self) -> None:
        events = {
            "event_type": ["product_viewed", "Product Added to Wishlist", "nps_answered", "nps_answered", None],
            "score": ["x", "3", "11", "-1", None],
        }
        assert self.checked(APP_EVENTS, events) == [
            ("unparseable_number", "score"),
            ("unknown_event_type", "event_type"),
            ("score_out_of_range", "score"),
            ("score_out_of_range", "score"),
            ("missing_required_field", "event_type"),
        ]

    def test_an_empty_optional_value_passes(self) -> None:
        assert self.checked(APP_EVENTS, {"event_type": ["push_opened"], "quantity": [None], "score": [None]}) == [
            (None, None)
        ]
