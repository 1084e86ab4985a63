"""Generate a deterministic synthetic retailer and schedule its whole future.

Purchase behaviour follows a Pareto/NBD-style story: each customer buys at their own rate
(gamma-distributed across customers) and may silently drop out after any purchase
(beta-distributed probability). That gives realistic purchase cycles, a long tail of
lapsed customers, and a baseline that win-back has to beat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from loyalty.warehouse import empty_app_tables, run_sql_file
from loyalty_dev.simulation.truth import TRUTH
from loyalty_dev.simulation.world import advance_to

CATEGORIES = (
    "apparel",
    "beauty",
    "books",
    "electronics",
    "grocery",
    "home",
    "pets",
    "sports",
    "toys",
    "wellness",
)
FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Grace", "Hugo", "Iris", "John")
LOCALES = (("pt-BR", "America/Sao_Paulo"), ("en", "America/New_York"))
APP_SHARE_WITHOUT_PUSH_CONSENT = 0.5  # customers who installed the app but did not allow notifications


@dataclass(frozen=True)
class GeneratorConfig:
    """The size and calendar of the synthetic world; same config, same world."""

    customers: int = 20_000
    products: int = 200
    seed: int = 42
    campaign_start: dt.date = dt.date(2026, 6, 1)
    history_days: int = 365
    campaign_days: int = 63
    tail_days: int = 14  # purchases scheduled past the campaign so attribution windows can close

    @property
    def history_start(self) -> dt.date:
        return self.campaign_start - dt.timedelta(days=self.history_days)

    @property
    def horizon_end(self) -> dt.date:
        return self.campaign_start + dt.timedelta(days=self.campaign_days + self.tail_days)


def _timestamps(base: dt.date, day_offsets: np.ndarray, seconds: np.ndarray) -> list[dt.datetime]:
    start = dt.datetime.combine(base, dt.time(), tzinfo=dt.UTC)
    return [
        start + dt.timedelta(days=int(day), seconds=int(sec)) for day, sec in zip(day_offsets, seconds, strict=True)
    ]


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def _customers(cfg: GeneratorConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = cfg.customers
    # Signups spread over the two years before the campaign ends; some join during it.
    signup_day = rng.integers(-365, cfg.history_days + cfg.campaign_days, size=n)
    return {
        "customer_id": np.arange(1, n + 1),
        "signup_day": signup_day,
        "signup_second": rng.integers(0, 86_400, size=n),
        "rate": rng.gamma(shape=2.0, scale=1 / 70, size=n),  # orders per day; mean interval ~35 d
        "dropout": rng.beta(1.0, 7.0, size=n),  # chance to stop buying after each order
        "buyer": rng.random(n) < 0.8,  # a fifth of signups never buy
        "locale": rng.integers(0, len(LOCALES), size=n),
        "favourite": rng.integers(0, len(CATEGORIES), size=n),
        "first_name": rng.integers(0, len(FIRST_NAMES), size=n),
        "email_consent": rng.random(n) < 0.9,
        "sms_consent": rng.random(n) < 0.6,
        "push_consent": rng.random(n) < 0.4,
        "birthday_offset": rng.integers(18 * 365, 70 * 365, size=n),
    }


def _push_token(seed: int, customer_id: int, push_consent: bool) -> str | None:
    """The FCM registration token of the customer's app install, or None without the app. Every customer with
    push consent has the app (consent is asked in it), and half of the others. A hash of the seed and the
    customer, not a draw from the world's RNG: one more draw would shift every later one and change the world."""
    digest = hashlib.blake2b(f"app-install|{seed}|{customer_id}".encode(), digest_size=16).digest()
    has_app = push_consent or int.from_bytes(digest[:8], "big") < APP_SHARE_WITHOUT_PUSH_CONSENT * 2**64
    return f"fcm-{customer_id}-{digest[8:].hex()}" if has_app else None


def _purchase_days(
    cfg: GeneratorConfig, people: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate every customer's purchase days up to the horizon; returns (customer_index, day)."""
    horizon = cfg.history_days + cfg.campaign_days + cfg.tail_days
    n = cfg.customers
    clock = people["signup_day"] + rng.exponential(10.0, size=n)  # first order soon after signup
    active = people["buyer"] & (clock < horizon)
    owners, days = [], []
    while active.any():
        idx = np.flatnonzero(active)
        owners.append(idx)
        days.append(np.floor(clock[idx]).astype(int))
        survives = rng.random(idx.size) >= people["dropout"][idx]
        clock[idx] += rng.exponential(1.0 / people["rate"][idx])
        active[idx] = survives & (clock[idx] < horizon)
    owner = np.concatenate(owners)
    day = np.concatenate(days)
    keep = day >= 0  # purchases before the history window are not part of the data set
    return owner[keep], day[keep]


def generate(conn: psycopg.Connection, cfg: GeneratorConfig) -> dict[str, int]:
    """Write truth, products, and the scheduled customers and orders; release the history.

    Deterministic for a given config. Replaces any previous synthetic world in the warehouse,
    its send ledger and events included; refuses to touch a warehouse with real customers.
    """
    rng = np.random.default_rng(cfg.seed)
    run_sql_file(conn, "simulation.sql", directory=Path(__file__).parent)
    _refuse_real_data(conn)
    for table in (
        "sim.truth",
        "sim.settings",
        "sim.scheduled_customers",
        "sim.scheduled_orders",
        "sim.scheduled_order_lines",
        "sim.reactions",
    ):
        conn.execute(f"truncate {table}")
    empty_app_tables(conn)  # the previous world's loads, ledger, events and suppression list

    _copy(
        conn,
        "sim.truth",
        ("workflow_id", "persuasion_rate", "effect_window_days", "description", "journey_days"),
        (
            (t.workflow_id, t.persuasion_rate, t.effect_window_days, t.description, t.journey_days)
            for t in TRUTH.values()
        ),
    )
    _copy(
        conn,
        "sim.settings",
        ("key", "value"),
        [
            ("seed", str(cfg.seed)),
            ("campaign_start", cfg.campaign_start.isoformat()),
            ("horizon_end", cfg.horizon_end.isoformat()),
        ],
    )

    product_category = rng.integers(0, len(CATEGORIES), size=cfg.products)
    product_price = np.round(rng.lognormal(mean=3.3, sigma=0.6, size=cfg.products), 2)
    _copy(
        conn,
        "raw.products",
        ("product_id", "product_name", "category", "unit_price"),
        (
            (pid + 1, f"{CATEGORIES[cat].title()} item {pid + 1}", CATEGORIES[cat], float(price))
            for pid, (cat, price) in enumerate(zip(product_category, product_price, strict=True))
        ),
    )

    people = _customers(cfg, rng)
    signup_at = _timestamps(cfg.history_start, people["signup_day"], people["signup_second"])
    _copy(
        conn,
        "sim.scheduled_customers",
        (
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
            "push_token",
        ),
        (
            (
                int(cid),
                f"customer{cid}@example.com",
                f"+55119{cid:08d}" if LOCALES[loc][0] == "pt-BR" else f"+1555{cid:07d}",
                FIRST_NAMES[name],
                LOCALES[loc][0],
                LOCALES[loc][1],
                cfg.campaign_start - dt.timedelta(days=int(age)),
                signed_up,
                bool(email),
                bool(sms),
                bool(push),
                _push_token(cfg.seed, int(cid), bool(push)),
            )
            for cid, loc, name, age, signed_up, email, sms, push in zip(
                people["customer_id"],
                people["locale"],
                people["first_name"],
                people["birthday_offset"],
                signup_at,
                people["email_consent"],
                people["sms_consent"],
                people["push_consent"],
                strict=True,
            )
        ),
    )

    owner, day = _purchase_days(cfg, people, rng)
    order_count = owner.size
    ordered_at = _timestamps(cfg.history_start, day, rng.integers(8 * 3600, 22 * 3600, size=order_count))
    # Order lines: 1-4 products, mostly from the customer's favourite category.
    lines_per_order = np.minimum(1 + rng.poisson(0.8, size=order_count), 4)
    line_order = np.repeat(np.arange(order_count), lines_per_order)
    # Mostly the customer's favourite category: index into products sorted by category.
    by_category = np.argsort(product_category, kind="stable")
    category_size = np.bincount(product_category, minlength=len(CATEGORIES))
    category_start = np.cumsum(category_size) - category_size
    favourite = people["favourite"][owner[line_order]]
    has_products = category_size[favourite] > 0
    pick_favourite = (rng.random(line_order.size) < 0.6) & has_products
    offset = np.floor(rng.random(line_order.size) * np.maximum(category_size[favourite], 1)).astype(int)
    product = np.where(
        pick_favourite,
        by_category[np.minimum(category_start[favourite] + offset, cfg.products - 1)],
        rng.integers(0, cfg.products, size=line_order.size),
    )
    quantity = rng.integers(1, 4, size=line_order.size)
    line_total = quantity * product_price[product]
    order_total = np.round(np.bincount(line_order, weights=line_total, minlength=order_count), 2)
    order_ids = [f"O{i + 1:09d}" for i in range(order_count)]

    _copy(
        conn,
        "sim.scheduled_orders",
        ("order_id", "customer_id", "ordered_at", "status", "order_total"),
        (
            (order_ids[i], int(people["customer_id"][owner[i]]), ordered_at[i], "completed", float(order_total[i]))
            for i in range(order_count)
        ),
    )
    _copy(
        conn,
        "sim.scheduled_order_lines",
        ("order_line_id", "order_id", "product_id", "quantity", "unit_price", "ordered_at"),
        (
            (
                f"{order_ids[o]}-{n}",
                order_ids[o],
                int(product[j] + 1),
                int(quantity[j]),
                float(product_price[product[j]]),
                ordered_at[o],
            )
            for j, (o, n) in enumerate(zip(line_order, _line_numbers(lines_per_order), strict=True))
        ),
    )
    released = advance_to(conn, cfg.campaign_start - dt.timedelta(days=1))
    return {
        "customers": cfg.customers,
        "products": cfg.products,
        "scheduled_orders": order_count,
        "scheduled_order_lines": int(line_order.size),
        **released,
    }


class RealDataError(RuntimeError):
    """The warehouse holds customers the generator did not make: never overwrite them."""


def _refuse_real_data(conn: psycopg.Connection) -> None:
    generated = conn.execute("select exists (select 1 from sim.settings where key = 'seed')").fetchone() == (True,)
    has_customers = conn.execute("select exists (select 1 from raw.customers)").fetchone() == (True,)
    if has_customers and not generated:
        raise RealDataError(
            "the warehouse already holds customers that the generator did not write; the synthetic "
            "world replaces raw and ledger tables, so point LOYALTY_WAREHOUSE_URL at an empty database"
        )


def _line_numbers(lines_per_order: np.ndarray) -> np.ndarray:
    """1..k within each order, for readable order-line ids."""
    starts = np.repeat(np.cumsum(lines_per_order) - lines_per_order, lines_per_order)
    numbers: np.ndarray = np.arange(lines_per_order.sum()) - starts + 1
    return numbers
