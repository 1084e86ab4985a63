"""Source text to typed columns, a batch at a time, with pyarrow compute (no per-row Python).

Why here and not in SQL: Postgres' casts and to_timestamp raise on the first bad value, which would
fail a whole file for one bad row (pg_input_is_valid is Postgres 16+ and knows no formats). pyarrow's
kernels return null where a value does not parse, so every row gets its first failing field and
reason, and the good rows reach Postgres already typed (COPY then never fails on a value).

Dates are strict: strptime normalises 31/02 to 03/03, so a parsed value must format back to its
source text (leading zeros and case aside). Timestamps without an offset are in the mapping's
timezone; ISO 8601 values may carry `Z`, `+03`, `+0300` or `+03:00`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from loyalty.loader.entities import Check, Entity, Field
from loyalty.loader.mapping import DEFAULT_FALSE, DEFAULT_TRUE, EntityMapping

__all__ = [
    "CANONICAL",
    "Formats",
    "ParsedBatch",
    "PreparedBatch",
    "check_values",
    "formats_of",
    "parse_batch",
    "translate_values",
]

ISO_TIMESTAMP = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<hm>\d{2}:\d{2})(?::(?P<sec>\d{2}))?(?P<frac>\.\d{1,9})?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
OFFSET = r"^(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})?$"
TRAILING_OFFSET = r"\s*(?:[+-]\d{2}(?::?\d{2})?|[Zz])$"  # what %z reads at the end of a value
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
INTEGER_PATTERNS = {"bigint": r"^[+-]?\d{1,18}$", "integer": r"^[+-]?\d{1,9}$"}
NUMERIC_DIGITS = r"^[+-]?\d{1,10}(\.\d+)?$"  # numeric(12, 2): at most 10 digits before the point
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Formats:
    """How a source writes values: the mapping's settings for text columns, CANONICAL for typed ones."""

    timezone: str = "UTC"
    decimal: str = "."
    date_format: str | None = None
    timestamp_format: str | None = None
    true_values: frozenset[str] = frozenset(DEFAULT_TRUE)
    false_values: frozenset[str] = frozenset(DEFAULT_FALSE)


CANONICAL = Formats()


def formats_of(mapping: EntityMapping, timezone: str) -> Formats:
    return Formats(
        timezone=timezone,
        decimal=mapping.decimal,
        date_format=mapping.date_format,
        timestamp_format=mapping.timestamp_format,
        true_values=frozenset(v.lower() for v in mapping.true_values),
        false_values=frozenset(v.lower() for v in mapping.false_values),
    )


@dataclass(frozen=True)
class ParsedBatch:
    """Typed values per mapped field; per row the first failing rule (`reason`, null when none) and field."""

    values: dict[str, pa.Array]
    reason: pa.Array
    reason_field: pa.Array


@dataclass
class PreparedBatch:
    """A parsed batch: `values` per staged field, each row's first failing rule so far (null when none),
    and what a quarantined row shows (`originals` by source column; `records` for whole malformed records)."""

    lines: pa.Array
    values: dict[str, pa.Array]
    reason: pa.Array
    reason_field: pa.Array
    originals: dict[str, pa.Array]
    records: pa.Array | None = None


def _null_unless(mask: pa.Array, values: pa.Array) -> pa.Array:
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def _number(text: pa.Array, field: Field, formats: Formats) -> pa.Array:
    """Digits with the mapping's decimal separator (and the other one as an optional thousands separator)."""
    if field.type in INTEGER_PATTERNS:
        valid = pc.match_substring_regex(text, INTEGER_PATTERNS[field.type])
        return pc.cast(_null_unless(valid, text), pa.int64())
    point, thousands = (r",", r"\.") if formats.decimal == "," else (r"\.", ",")
    shaped = pc.match_substring_regex(text, rf"^[+-]?(\d{{1,3}}({thousands}\d{{3}})+|\d+)({point}\d+)?$")
    plain = pc.replace_substring(text, thousands.replace("\\", ""), "")
    if formats.decimal == ",":
        plain = pc.replace_substring(plain, ",", ".")
    valid = pc.and_kleene(shaped, pc.match_substring_regex(plain, NUMERIC_DIGITS))
    return _null_unless(valid, plain)  # text Postgres reads as numeric; it rounds to 2 decimals


def _normalised(text: pa.Array) -> pa.Array:
    """Case and leading zeros aside, so `1/2/2026` matches its formatted value `01/02/2026`."""
    return pc.replace_substring_regex(pc.utf8_lower(text), r"(^|\D)0+(\d)", r"\1\2")


def _strict_strptime(text: pa.Array, fmt: str) -> pa.Array:
    """Naive timestamps; null where the text does not parse or names a day that does not exist."""
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    if fmt.endswith("%z"):
        # Aware values format back in UTC, not in their offset: the day-range check reads the text and the
        # format without the offset (`2026-02-30 10:00:00 -0300` is not 2 March).
        local = pc.replace_substring_regex(text, TRAILING_OFFSET, "")
        return _null_unless(pc.is_valid(_strict_strptime(local, fmt.removesuffix("%z").rstrip())), parsed)
    if "%z" in fmt:  # an offset before other fields: the day-range check is skipped
        return parsed
    formatted = pc.strftime(pc.cast(parsed, pa.timestamp("s")), format=fmt)  # %S of microseconds adds a fraction
    same = pc.equal(_normalised(formatted), _normalised(text))
    if "%Y" in fmt:  # a four-digit year: strptime reads `14/03/24` as the year 24, which formats back as `0024`
        same = pc.and_(same, pc.greater_equal(pc.year(parsed), 1000))
    return _null_unless(same, parsed)


def _group(parts: pa.Array, name: str) -> pa.Array:
    """A named group of `extract_regex`: null where the text did not match or the group took no part."""
    value = pc.struct_field(parts, name)  # struct_field carries the struct's nulls into the child
    return pc.if_else(pc.equal(value, ""), pa.scalar(None, pa.string()), value)


def _iso_timestamp(text: pa.Array, timezone: str) -> pa.Array:
    parts = pc.extract_regex(text, ISO_TIMESTAMP)  # null where the shape is not ISO 8601
    hours_minutes = pc.coalesce(_group(parts, "hm"), "00:00")
    seconds = pc.coalesce(_group(parts, "sec"), "00")
    day = _group(parts, "date")
    local = pc.binary_join_element_wise(day, " ", hours_minutes, ":", seconds, "")
    naive = pc.strptime(local, format=LOCAL_FORMAT, unit="us", error_is_null=True)
    # Fixed widths: the day-range check compares the parsed day and month with the text's (cheaper than strftime).
    same_day = pc.and_(
        pc.equal(pc.day(naive), pc.cast(pc.utf8_slice_codeunits(day, 8, 10), pa.int64())),
        pc.equal(pc.month(naive), pc.cast(pc.utf8_slice_codeunits(day, 5, 7), pa.int64())),
    )
    naive = _null_unless(same_day, naive)
    fraction = pc.binary_join_element_wise(pc.coalesce(_group(parts, "frac"), "."), "000000", "")
    micros = pc.cast(pc.utf8_slice_codeunits(fraction, 1, 7), pa.int64())
    naive = pc.add(naive, pc.cast(micros, pa.duration("us")))
    zone = pc.coalesce(_group(parts, "tz"), "")
    offset = pc.extract_regex(zone, OFFSET)
    minutes = pc.add(
        pc.multiply(pc.cast(_group(offset, "hours"), pa.int64()), 60),
        pc.cast(pc.coalesce(_group(offset, "minutes"), "0"), pa.int64()),
    )
    minutes = pc.if_else(pc.equal(_group(offset, "sign"), "-"), pc.negate(minutes), minutes)
    minutes = pc.fill_null(minutes, 0)  # Z, z, or no offset (then the source timezone applies below)
    shift = pc.cast(pc.multiply(minutes, 60_000_000), pa.duration("us"))
    from_offset = pc.cast(pc.subtract(naive, shift), TIMESTAMP)
    assumed = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest", nonexistent="earliest")
    return pc.if_else(pc.equal(zone, ""), pc.cast(assumed, TIMESTAMP), from_offset)


def _timestamp(text: pa.Array, formats: Formats) -> pa.Array:
    fmt = formats.timestamp_format
    if fmt is None:
        return _iso_timestamp(text, formats.timezone)
    parsed = _strict_strptime(text, fmt)
    if "%z" in fmt:
        return pc.cast(parsed, TIMESTAMP)
    assumed = pc.assume_timezone(parsed, timezone=formats.timezone, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(assumed, TIMESTAMP)


def _date(text: pa.Array, formats: Formats) -> pa.Array:
    fmt = formats.date_format or "%Y-%m-%d"
    return pc.cast(_strict_strptime(text, fmt), pa.date32())


def _boolean(text: pa.Array, formats: Formats) -> pa.Array:
    lowered = pc.utf8_lower(text)
    is_true = pc.is_in(lowered, pa.array(sorted(formats.true_values)))
    is_false = pc.is_in(lowered, pa.array(sorted(formats.false_values)))
    return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))


PARSE_REASONS = {
    "bigint": "unparseable_number",
    "integer": "unparseable_number",
    "numeric": "unparseable_number",
    "date": "unparseable_date",
    "timestamptz": "unparseable_timestamp",
    "boolean": "unparseable_boolean",
}


def _parse(text: pa.Array, field: Field, formats: Formats) -> pa.Array:
    if field.type == "text":
        return text
    if field.type in {"bigint", "integer", "numeric"}:
        return _number(text, field, formats)
    if field.type == "date":
        return _date(text, formats)
    if field.type == "timestamptz":
        return _timestamp(text, formats)
    return _boolean(text, formats)


def translate_values(texts: Mapping[str, pa.Array], values: Mapping[str, Mapping[str, str]]) -> dict[str, pa.Array]:
    """The mapping's `values`: a source's word for one of ours (Shopify's `paid` for `completed`), looked up
    as a whole trimmed value; anything not listed passes unchanged."""
    translated = dict(texts)
    for name, pairs in values.items():
        if name in translated and pairs:
            position = pc.index_in(translated[name], value_set=pa.array(list(pairs), pa.string()))
            replaced = pc.take(pa.array(list(pairs.values()), pa.string()), position)
            translated[name] = pc.coalesce(replaced, translated[name])
    return translated


def parse_batch(
    entity: Entity,
    texts: Mapping[str, pa.Array],
    formats: Mapping[str, Formats],
    read_reason: pa.Array,
    read_field: pa.Array,
) -> ParsedBatch:
    """Typed values of the mapped fields (`texts`: trimmed strings, null for empty) and each row's first
    failing rule: a read error (the source's), then per field in the entity's order a missing required
    value or one that does not parse."""
    values: dict[str, pa.Array] = {}
    reasons = [read_reason]
    fields = [read_field]
    for name, text in texts.items():
        field = entity.field(name)
        value = _parse(text, field, formats[name])
        bad = pc.and_(pc.is_valid(text), pc.is_null(value))  # a value was given but did not parse
        if field.default_false:
            value = pc.fill_null(value, False)  # an empty consent is no consent
        values[name] = value
        reason = pc.if_else(bad, PARSE_REASONS.get(field.type, "unparseable"), pa.scalar(None, pa.string()))
        if field.required:
            reason = pc.if_else(pc.is_null(text), "missing_required_field", reason)
        reasons.append(reason)
        fields.append(pc.if_else(pc.is_valid(reason), name, pa.scalar(None, pa.string())))
    return ParsedBatch(values, pc.coalesce(*reasons), pc.coalesce(*fields))


COMPARISONS = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater}


def _fails(check: Check, value: pa.Array) -> pa.Array:
    """Where `value` breaks the check (never where it is null: a missing value is the required rule's)."""
    if check.operator == "not in":
        return pc.and_(pc.is_valid(value), pc.invert(pc.is_in(value, pa.array(check.value, pa.string()))))
    if pa.types.is_string(value.type):  # a numeric field: its text, which Postgres reads and rounds to 2 decimals
        value = pc.round(pc.cast(value, pa.float64()), 2, round_mode="half_towards_infinity")
    assert isinstance(check.value, str)
    return pc.fill_null(COMPARISONS[check.operator](value, float(check.value)), False)


def check_values(entity: Entity, parsed: ParsedBatch) -> ParsedBatch:
    """The entity's value checks (negative amount, score out of range, unknown event type) on rows that
    parsed: each row keeps its first failing rule, read and parse errors first, then the checks in order."""
    reason, reason_field = parsed.reason, parsed.reason_field
    for check in entity.checks:
        if check.field not in parsed.values:
            continue  # a field the mapping does not give: null in raw, nothing to check
        failing = pc.and_(pc.is_null(reason), _fails(check, parsed.values[check.field]))
        reason = pc.if_else(failing, check.reason, reason)
        reason_field = pc.if_else(failing, check.field, reason_field)
    return ParsedBatch(parsed.values, reason, reason_field)


def row_data(originals: Mapping[str, pa.Array], mask: pa.Array) -> pa.Array:
    """The source values of the rows in `mask` as JSON text (null elsewhere): what a quarantined row looked like.
    Per-row Python, but only for quarantined rows."""
    length = len(mask)
    if not pc.any(mask).as_py():
        return pa.nulls(length, pa.string())
    picked = pa.table(dict(originals)).filter(mask).to_pylist()
    documents = pa.array([json.dumps(row, ensure_ascii=False) for row in picked], pa.string())
    return pc.replace_with_mask(pa.nulls(length, pa.string()), mask, documents)
