"""What each loadable entity is: its raw table, natural key, fields, and the rules a row must pass.

Why a table of definitions instead of a module per entity: the mapping model, the parser, the
staging table and the classify-and-upsert SQL (sql/loader/apply.sql) are all generic and read these
definitions, so a new entity (app events, consent changes) is one more entry here and a migration.
The fields mirror the raw tables at the newest migration (minus loaded_at); a test checks they match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["bigint", "integer", "numeric", "text", "date", "timestamptz", "boolean"]


@dataclass(frozen=True)
class Field:
    """One column of a raw table. `required`: a row without it is quarantined (keys and not-null
    columns without a default); `default_false`: an empty boolean means false (consents)."""

    name: str
    type: FieldType
    required: bool = False
    default_false: bool = False


@dataclass(frozen=True)
class Check:
    """A value rule checked in the stream after parsing: `field <operator> value` quarantines the row with `reason`
    (the same reason names the dbt contract uses, so both quarantines read alike)."""

    field: str
    operator: Literal["<", "<=", ">", "not in"]
    reason: str
    value: str | tuple[str, ...] = "0"  # written here, never from a mapping: a number, or the strings of `not in`


@dataclass(frozen=True)
class Reference:
    """The row's `field` must exist as `key` in raw.`table` (rows loaded earlier or earlier in this load)."""

    field: str
    table: str
    key: str
    reason: str


@dataclass(frozen=True)
class Entity:
    name: str
    table: str  # in the raw schema
    key: str
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    references: tuple[Reference, ...] = field(default=())

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


CUSTOMERS = Entity(
    name="customers",
    table="customers",
    key="customer_id",
    fields=(
        Field("customer_id", "bigint", required=True),
        Field("email", "text"),
        Field("phone", "text"),
        Field("first_name", "text"),
        Field("locale", "text"),
        Field("timezone", "text"),
        Field("birthday", "date"),
        Field("signup_at", "timestamptz", required=True),
        Field("email_consent", "boolean", default_false=True),
        Field("sms_consent", "boolean", default_false=True),
        Field("push_consent", "boolean", default_false=True),
        Field("push_token", "text"),  # the app install's FCM token; dbt nulls one over 4096 characters
    ),
)

PRODUCTS = Entity(
    name="products",
    table="products",
    key="product_id",
    fields=(
        Field("product_id", "bigint", required=True),
        Field("product_name", "text", required=True),
        Field("category", "text", required=True),
        Field("unit_price", "numeric", required=True),
    ),
    checks=(Check("unit_price", "<", "negative_unit_price"),),
)

ORDERS = Entity(
    name="orders",
    table="orders",
    key="order_id",
    fields=(
        Field("order_id", "text", required=True),
        Field("customer_id", "bigint", required=True),
        Field("ordered_at", "timestamptz", required=True),
        Field("status", "text", required=True),
        Field("order_total", "numeric", required=True),
    ),
    checks=(Check("order_total", "<", "negative_order_total"),),
    references=(Reference("customer_id", "customers", "customer_id", "unknown_customer"),),
)

ORDER_LINES = Entity(
    name="order_lines",
    table="order_lines",
    key="order_line_id",
    fields=(
        Field("order_line_id", "text", required=True),
        Field("order_id", "text", required=True),
        Field("product_id", "bigint", required=True),
        Field("quantity", "integer", required=True),
        Field("unit_price", "numeric", required=True),
    ),
    checks=(
        Check("quantity", "<=", "non_positive_quantity"),
        Check("unit_price", "<", "negative_unit_price"),
    ),
    references=(
        Reference("order_id", "orders", "order_id", "unknown_order"),
        Reference("product_id", "products", "product_id", "unknown_product"),
    ),
)

APP_EVENT_TYPES = (
    "product_viewed",
    "added_to_cart",
    "removed_from_cart",
    "cart_abandoned",
    "push_opened",
    "nps_answered",
    "csat_answered",
)


APP_EVENTS = Entity(
    name="app_events",
    table="app_events",
    key="event_id",
    fields=(
        Field("event_id", "text", required=True),
        Field("customer_id", "bigint", required=True),
        Field("event_type", "text", required=True),
        Field("occurred_at", "timestamptz", required=True),
        Field("product_id", "bigint"),
        Field("quantity", "integer"),
        Field("unit_price", "numeric"),
        Field("score", "integer"),
        Field("order_id", "text"),
    ),
    checks=(
        Check("event_type", "not in", "unknown_event_type", APP_EVENT_TYPES),
        Check("quantity", "<=", "non_positive_quantity"),
        Check("unit_price", "<", "negative_unit_price"),
        Check("score", "<", "score_out_of_range"),
        Check("score", ">", "score_out_of_range", "10"),
    ),
    references=(Reference("customer_id", "customers", "customer_id", "unknown_customer"),),
)

# Load order: an entity comes after every entity it references, so "unknown customer" sees this load's customers.
ENTITIES: dict[str, Entity] = {e.name: e for e in (CUSTOMERS, PRODUCTS, ORDERS, ORDER_LINES, APP_EVENTS)}
EntityName = Literal["customers", "products", "orders", "order_lines", "app_events"]
