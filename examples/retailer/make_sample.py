"""Write the sample retailer of examples/retailer/: a shop's exports, with deliberately bad rows.

Dev tooling, never imported by the product: it only writes the files committed beside it. The same
seed writes the same bytes, so `git diff` after a rerun shows only what a change to this script meant.

- clientes.csv: a Brazilian ERP's customer export (Latin-1, `;`, CRLF, dd/mm/yyyy dates, S/N flags,
  Portuguese headers, a `,`-decimal credit limit the mapping leaves out);
- produtos.csv: the same ERP's product catalogue (`,` decimal prices);
- orders.csv and order_lines.csv: a Shopify-like orders export split in two (UTF-8, `,`, timestamps
  with a UTC offset) — see README.md for why it is two files;
- events.csv: the app's and site's tracking events as a CDP exports them (UTF-8, `,`, one row per event,
  flattened `properties.*` columns, the tracking plan's event names, ISO 8601 timestamps with the device's
  offset), made from the customers, products and orders above: the shopping before tracked orders, surveys
  about them, browsing, abandoned carts, push opens;
- expected_counts.json: per entity, the rows the loader reads, loads and quarantines (by reason), and
  every deliberately bad row with its file, line, column and reason.

Run: `.venv/bin/python examples/retailer/make_sample.py` (rewrites the files above and the bad-row
table of README.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
SEED = 16
SAO_PAULO = dt.timezone(dt.timedelta(hours=-3))  # no daylight saving in Brazil since 2019

CUSTOMERS = 600
PRODUCTS = 150
ORDERS = 1_000
FIRST_CUSTOMER = 10_001
FIRST_PRODUCT = 5_001
FIRST_ORDER = 1_001
FIRST_LINE_ITEM = 14_120_000_000_001  # Shopify line item ids are large integers

FIRST_NAMES = ("Ana", "João", "Márcia", "Conceição", "André", "Luíza", "Sebastião", "Fábio", "Grace", "John")
SURNAMES = ("Silva", "Araújo", "Gonçalves", "Conceição", "Souza", "Brandão", "Lima", "Smith")
CITIES = (("São Paulo", "SP"), ("Goiânia", "GO"), ("Florianópolis", "SC"), ("Belém", "PA"), ("Maceió", "AL"))
DEPARTMENTS = {
    "Vestuário": ("Camiseta Básica", "Calça Jeans", "Vestido Floral", "Jaqueta Corta-vento"),
    "Calçados": ("Tênis Corrida", "Sandália Couro", "Bota Cano Curto"),
    "Acessórios": ("Boné Aba Reta", "Cinto Couro", "Óculos de Sol"),
    "Casa": ("Jogo de Cama Algodão", "Toalha de Banho", "Almofada Decorativa"),
    "Beleza": ("Perfume Floral 100ml", "Hidratante Corporal", "Protetor Solar FPS 50"),
}
SIZES = ("P", "M", "G", "GG", "Único")
FINANCIAL_STATUSES = ("paid",) * 17 + ("pending", "refunded", "partially_refunded")
# Each bad-row template of a file is written this many times, spread over the file: 2–4% bad rows.
COPIES = {"customers": 2, "products": 1, "orders": 3, "order_lines": 6, "app_events": 10}


def _spread(at: int, copy: int, size: int) -> int:
    """Where the `copy`-th copy of a bad row first placed before good row `at` goes."""
    return (at + copy * (size // 3 + 7)) % size


@dataclass
class BadRow:
    """A row written wrong on purpose, and what the loader should say about it."""

    entity: str
    file: str
    line: int
    column: str | None
    value: str | None
    reason: str
    why: str


@dataclass
class Sheet:
    """One file's rows before they are written: good rows, with bad rows inserted at chosen places or written
    instead of a good row."""

    entity: str
    file: str
    header: list[str]
    key: str
    rows: list[list[str]] = field(default_factory=list)
    bad: list[tuple[int, list[str], str | None, str | None, str, str]] = field(default_factory=list)
    instead: dict[int, tuple[list[str], str | None, str | None, str, str]] = field(default_factory=dict)

    def spoil(self, at: int, row: list[str], column: str | None, reason: str, why: str) -> None:
        """Insert `row` before good row `at`; `column` is the header of the broken field (None: the whole line)."""
        value = row[self.header.index(column)] if column is not None else None
        self.bad.append((at, row, column, value, reason, why))

    def replace(self, at: int, row: list[str], column: str | None, reason: str, why: str) -> None:
        """Write `row` instead of good row `at` (the same record, sent wrong)."""
        assert at not in self.instead, at
        value = row[self.header.index(column)] if column is not None else None
        self.instead[at] = (row, column, value, reason, why)

    def lines(self) -> tuple[list[list[str]], list[BadRow]]:
        """The data rows in file order, and the bad rows with the line each starts on (the header is line 1; a
        value with a line break, written quoted, makes its row span more than one line)."""
        out: list[list[str]] = []
        found: list[BadRow] = []
        line = 2  # where the next row starts

        def add(row: list[str]) -> int:
            nonlocal line
            out.append(row)
            start, line = line, line + 1 + sum(value.count("\n") for value in row)
            return start

        inserts = sorted(self.bad, key=lambda item: item[0])
        position = 0
        for index, row in enumerate(self.rows):
            while position < len(inserts) and inserts[position][0] == index:
                _, bad_row, column, value, reason, why = inserts[position]
                found.append(BadRow(self.entity, self.file, add(bad_row), column, value, reason, why))
                position += 1
            if index in self.instead:
                bad_row, column, value, reason, why = self.instead[index]
                found.append(BadRow(self.entity, self.file, add(bad_row), column, value, reason, why))
            else:
                add(row)
        for _, bad_row, column, value, reason, why in inserts[position:]:  # after the last good row
            found.append(BadRow(self.entity, self.file, add(bad_row), column, value, reason, why))
        return out, found


def _customers(rng: random.Random) -> Sheet:
    header = [
        "Codigo",
        "Nome",
        "Sobrenome",
        "E-mail",
        "Celular",
        "Idioma",
        "Fuso Horário",
        "Data Nascimento",
        "Data Cadastro",
        "Aceita E-mail",
        "Aceita SMS",
        "Aceita Push",
        "Cidade",
        "UF",
        "Limite de Crédito",
    ]
    sheet = Sheet("customers", "clientes.csv", header, "Codigo")
    for number in range(CUSTOMERS):
        code = FIRST_CUSTOMER + number
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        is_brazilian = first not in ("Grace", "John")
        city, state = rng.choice(CITIES)
        birthday = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
        signup = dt.datetime(2023, 1, 1) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 1000))
        email = f"{_ascii(first).lower()}.{_ascii(last).lower()}{code}@exemplo.com.br"
        sheet.rows.append(
            [
                str(code),
                first,
                last,
                email if rng.random() < 0.95 else "",
                (f"+55119{code:08d}" if is_brazilian else f"+1555{code:07d}") if rng.random() < 0.8 else "",
                "pt-BR" if is_brazilian else "en",
                "America/Sao_Paulo" if is_brazilian else "America/New_York",
                birthday.strftime("%d/%m/%Y") if rng.random() < 0.85 else "",
                signup.strftime("%d/%m/%Y %H:%M"),
                rng.choice(("S", "S", "S", "N")),
                rng.choice(("S", "N")),
                rng.choice(("Sim", "Não", "Não")),
                city,
                state,
                f"{rng.randrange(0, 500_000) / 100:.2f}".replace(".", ","),
            ]
        )

    def variant(index: int, code: int | None = None) -> list[str]:
        row = list(sheet.rows[index])
        if code is not None:
            row[0] = str(code)
        return row

    new_code = FIRST_CUSTOMER + CUSTOMERS  # codes of spoilt rows: never used by a good row
    bad = [
        (37, "Data Cadastro", "31/02/2024 10:15", "unparseable_timestamp", "31 February does not exist"),
        (112, "Data Cadastro", "2024-03-14 09:12", "unparseable_timestamp", "ISO date among dd/mm/yyyy (mixed)"),
        (205, "Data Cadastro", "14/03/24 09:12", "unparseable_timestamp", "two-digit year (mixed formats)"),
        (260, "Data Cadastro", "", "missing_required_field", "signup_at is required"),
        (331, "Data Nascimento", "00/00/0000", "unparseable_date", "the ERP's way of saying 'no date'"),
        (402, "Data Nascimento", "1985-07-15", "unparseable_date", "ISO date among dd/mm/yyyy (mixed)"),
        (455, "Data Nascimento", "15.07.1985", "unparseable_date", "dotted date (mixed formats)"),
        (512, "Codigo", "", "missing_required_field", "customer_id is required"),
        (588, "Codigo", "C-0588", "unparseable_number", "customer_id is a whole number"),
        (640, "Aceita E-mail", "talvez", "unparseable_boolean", "neither a true nor a false value"),
    ]
    for copy in range(COPIES["customers"]):
        for offset, (at, column, value, reason, why) in enumerate(bad, start=copy * len(bad)):
            place = _spread(at % CUSTOMERS, copy, CUSTOMERS)
            row = variant(place, new_code + offset)
            row[header.index(column)] = value
            sheet.spoil(place, row, column, reason, why)
    # The same customer again on the next line, an outdated copy: the first row of a key wins.
    for original in (149, 300):
        row = variant(original)
        row[header.index("E-mail")] = row[header.index("E-mail")].replace("@", ".antigo@")
        sheet.spoil(original + 1, row, "Codigo", "duplicate_key", f"Codigo {row[0]} again on the next line")
    # Garbage lines: a report footer and a line cut short.
    sheet.spoil(CUSTOMERS, [f"Total de registros: {CUSTOMERS + 25}"], None, "malformed_row", "report footer")
    sheet.spoil(444, variant(444)[:6], None, "malformed_row", "line cut short")
    # Loaded by the loader; dbt's data contract drops the value (the customer stays).
    row = variant(555, new_code + len(bad) * COPIES["customers"])
    row[header.index("Celular")] = "(11) 98765-4321"
    sheet.spoil(555, row, "Celular", "", "")
    return sheet


def _products(rng: random.Random) -> Sheet:
    header = ["Código", "Descrição", "Departamento", "Preço Venda", "Unidade", "Ativo"]
    sheet = Sheet("products", "produtos.csv", header, "Código")
    names = [(department, name) for department, items in DEPARTMENTS.items() for name in items]
    for number in range(PRODUCTS):
        department, name = names[number % len(names)]
        size = SIZES[(number // len(names)) % len(SIZES)]
        price = rng.randrange(1_990, 59_990, 100) / 100
        sheet.rows.append(
            [str(FIRST_PRODUCT + number), f"{name} {size}", department, f"{price:.2f}".replace(".", ","), "UN", "S"]
        )
    new_code = FIRST_PRODUCT + PRODUCTS
    bad = [
        (20, "Preço Venda", "a combinar", "unparseable_number", "not a number"),
        (66, "Preço Venda", "", "missing_required_field", "unit_price is required"),
        (90, "Departamento", "", "missing_required_field", "category is required"),
        (121, "Descrição", "", "missing_required_field", "product_name is required"),
    ]
    for offset, (at, column, value, reason, why) in enumerate(bad):
        row = list(sheet.rows[at])
        row[0] = str(new_code + offset)
        row[header.index(column)] = value
        sheet.spoil(at, row, column, reason, why)
    duplicate = list(sheet.rows[30])
    duplicate[header.index("Preço Venda")] = "1,00"
    sheet.spoil(31, duplicate, "Código", "duplicate_key", f"Código {duplicate[0]} again on the next line")
    return sheet


def _orders_and_lines(rng: random.Random, products: Sheet) -> tuple[Sheet, Sheet]:
    order_header = [
        "Name",
        "Email",
        "Customer ID",
        "Financial Status",
        "Paid at",
        "Fulfillment Status",
        "Currency",
        "Subtotal",
        "Shipping",
        "Taxes",
        "Total",
        "Discount Code",
        "Created at",
        "Cancelled at",
        "Source",
    ]
    line_header = [
        "Name",
        "Lineitem id",
        "Lineitem quantity",
        "Lineitem name",
        "Lineitem price",
        "Lineitem sku",
        "Lineitem fulfillment status",
    ]
    orders = Sheet("orders", "orders.csv", order_header, "Name")
    lines = Sheet("order_lines", "order_lines.csv", line_header, "Lineitem id")
    catalogue = [(row[0], row[1], row[3].replace(",", ".")) for row in products.rows]
    line_item = FIRST_LINE_ITEM
    line_rows_of_order: list[int] = []
    for number in range(ORDERS):
        name = f"#{FIRST_ORDER + number}"
        customer = FIRST_CUSTOMER + rng.randrange(CUSTOMERS)
        created = dt.datetime(2025, 6, 1, tzinfo=SAO_PAULO) + dt.timedelta(seconds=rng.randrange(0, 86_400 * 300))
        status = rng.choice(FINANCIAL_STATUSES)
        subtotal = 0.0
        line_rows_of_order.append(len(lines.rows))
        for sku, title, price in rng.sample(catalogue, rng.choice((1, 1, 2, 2, 3, 4))):
            quantity = rng.choice((1, 1, 1, 2, 3))
            subtotal += quantity * float(price)
            lines.rows.append([name, str(line_item), str(quantity), title, price, sku, "fulfilled"])
            line_item += 1
        shipping = 0.0 if subtotal >= 199 else 19.90
        stamp = created.strftime("%Y-%m-%d %H:%M:%S %z")
        orders.rows.append(
            [
                name,
                f"cliente{customer}@exemplo.com.br",
                str(customer),
                status,
                stamp if status != "pending" else "",
                "fulfilled" if status == "paid" else "unfulfilled",
                "BRL",
                f"{subtotal:.2f}",
                f"{shipping:.2f}",
                "0.00",
                f"{subtotal + shipping:.2f}",
                "",
                stamp,
                "",
                "web",
            ]
        )

    new_order = FIRST_ORDER + ORDERS

    def order_variant(at: int, offset: int, column: str, value: str) -> list[str]:
        row = list(orders.rows[at])
        row[0] = f"#{new_order + offset}"
        row[order_header.index(column)] = value
        return row

    bad_orders = [
        (48, "Created at", "2026-02-30 10:00:00 -0300", "unparseable_timestamp", "30 February does not exist"),
        (199, "Created at", "02/03/2026 14:05", "unparseable_timestamp", "dd/mm/yyyy among ISO timestamps (mixed)"),
        (377, "Created at", "", "missing_required_field", "ordered_at is required"),
        (610, "Customer ID", "", "missing_required_field", "customer_id is required (a guest checkout)"),
        (777, "Total", "R$ 89,90", "unparseable_number", "a currency-formatted total"),
        (1020, "Financial Status", "", "missing_required_field", "status is required"),
        (1300, "Customer ID", "N/A", "unparseable_number", "customer_id is a whole number"),
    ]
    for copy in range(COPIES["orders"]):
        for offset, (at, column, value, reason, why) in enumerate(bad_orders, start=copy * len(bad_orders)):
            place = _spread(at % ORDERS, copy, ORDERS)
            orders.spoil(place, order_variant(place, offset, column, value), column, reason, why)
    for original in (500, 77):  # a stale copy from when it was pending, on the next line: the first row wins
        duplicate = list(orders.rows[original])
        duplicate[order_header.index("Financial Status")] = "pending"
        duplicate[order_header.index("Paid at")] = ""
        orders.spoil(original + 1, duplicate, "Name", "duplicate_key", f"Name {duplicate[0]} again on the next line")
    orders.spoil(811, orders.rows[810][:4], None, "malformed_row", "line cut short")
    orders.spoil(ORDERS, ["Exported by the shop admin, 1/1 pages"], None, "malformed_row", "a footer line")
    # Every value parses, but the customer does not exist.
    for offset, at in enumerate((250, 950), start=len(bad_orders) * COPIES["orders"]):
        row = order_variant(at, offset, "Customer ID", str(90_000 + at))
        orders.spoil(at, row, "Customer ID", "unknown_customer", "no customer with that code in clientes.csv")

    def line_variant(at: int, offset: int, column: str, value: str) -> list[str]:
        row = list(lines.rows[at])
        row[1] = str(FIRST_LINE_ITEM + 900_000 + offset)
        row[line_header.index(column)] = value
        return row

    bad_lines = [
        (31, "Lineitem quantity", "2.5", "unparseable_number", "a fractional quantity"),
        (402, "Lineitem quantity", "", "missing_required_field", "quantity is required"),
        (803, "Lineitem sku", "", "missing_required_field", "product_id is required (a custom line item)"),
        (1207, "Lineitem sku", "CAM-BAS-P", "unparseable_number", "a text SKU where the ERP code is expected"),
        (1666, "Lineitem price", "", "missing_required_field", "unit_price is required"),
        (2050, "Lineitem price", "12,90", "unparseable_number", "a `,` decimal in a `.` decimal file"),
        (2400, "Name", "", "missing_required_field", "order_id is required"),
    ]
    size = len(lines.rows)
    for copy in range(COPIES["order_lines"]):
        for offset, (at, column, value, reason, why) in enumerate(bad_lines, start=copy * len(bad_lines)):
            place = _spread(at % size, copy, size)
            lines.spoil(place, line_variant(place, offset, column, value), column, reason, why)
    extra = len(bad_lines) * COPIES["order_lines"]
    for at in (700, 1900):
        row = list(lines.rows[at])
        row[line_header.index("Lineitem quantity")] = "5"
        lines.spoil(at + 1, row, "Lineitem id", "duplicate_key", f"Lineitem id {row[1]} again on the next line")
    # A comma in a product name that was not quoted: one field too many.
    for offset, at in enumerate((1800, 333), start=extra):
        row = line_variant(at, offset, "Lineitem name", "Kit Verão")
        row.insert(line_header.index("Lineitem name") + 1, " Azul")
        lines.spoil(at, row, None, "malformed_row", "an unquoted comma in Lineitem name")
    for offset, (at, column, value, reason, why) in enumerate(
        (
            (120, "Lineitem quantity", "-1", "non_positive_quantity", "a return exported as a line"),
            (1500, "Lineitem quantity", "0", "non_positive_quantity", "a cancelled item exported as a line"),
            (2022, "Name", "#999999", "unknown_order", "an order that is not in orders.csv"),
            (1111, "Lineitem sku", "9999", "unknown_product", "a product that is not in produtos.csv"),
        ),
        start=extra + 2,
    ):
        lines.spoil(at, line_variant(at, offset, column, value), column, reason, why)
    return orders, lines


# The tracking plan's event names (Segment's e-commerce and mobile specs where they have one): mapping.yml's
# `values` turns them into ours. A name the mapping does not list (the wishlist below) is an unknown event type.
VIEWED, ADDED, REMOVED, ABANDONED = "Product Viewed", "Product Added", "Product Removed", "Cart Abandoned"
PUSH_OPENED, NPS, CSAT = "Push Notification Tapped", "NPS Survey Submitted", "CSAT Survey Submitted"
TRACKED_ORDERS = 0.4  # share of the orders whose shopping the app or site tracked (signed in)
BROWSING_SESSIONS = 300  # a customer looking at products without buying
ABANDONED_CARTS = 100  # products put in the cart, then the app's Cart Abandoned: no order of that customer after
PUSH_OPENS = 300
LAST_EVENT = dt.datetime(2026, 3, 29, 20, 0, tzinfo=SAO_PAULO)  # before the sample's dbt run date, 31 March
CAMPAIGNS = ("frete-gratis-marco", "black-friday-2025", "volta-as-aulas", "dia-das-maes", "carrinho-lembrete")
NPS_COMMENTS = (
    "",
    "",
    "",
    "Entrega rápida, produto ótimo",
    "Demorou, mas chegou",
    "Amei!",
    "Poderia ter mais tamanhos",
)


def _events(rng: random.Random, customers: Sheet, products: Sheet, orders: Sheet, lines: Sheet) -> Sheet:
    """The app's and site's tracking events as a CDP exports them: one row per event, flattened properties,
    ISO timestamps with the device's offset. Made from the sample's own customers, products and orders: the
    shopping before a tracked order, surveys after it, browsing, carts abandoned, push opens."""
    header = [
        "message_id",
        "event",
        "user_id",
        "anonymous_id",
        "timestamp",
        "received_at",
        "context.device.type",
        "context.app.version",
        "properties.product_id",
        "properties.name",
        "properties.quantity",
        "properties.price",
        "properties.currency",
        "properties.order_id",
        "properties.score",
        "properties.comment",
        "properties.campaign",
    ]
    sheet = Sheet("app_events", "events.csv", header, "message_id")
    zones = {int(row[0]): ZoneInfo(row[6]) for row in customers.rows}
    signed_up = {
        int(row[0]): dt.datetime.strptime(row[8], "%d/%m/%Y %H:%M").replace(tzinfo=SAO_PAULO) for row in customers.rows
    }
    pushable = [int(row[0]) for row in customers.rows if row[11] == "Sim"]
    catalogue = [(row[0], row[1], row[3].replace(",", ".")) for row in products.rows]
    devices = {customer: rng.choice(("ios", "android", "web", "web")) for customer in zones}
    anonymous = {customer: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for customer in zones}
    found: list[tuple[dt.datetime, list[str]]] = []

    def event(kind: str, customer: int, at: dt.datetime, /, **properties: str) -> None:
        at += dt.timedelta(milliseconds=rng.randrange(0, 1_000))
        device = devices[customer]
        received = at + dt.timedelta(milliseconds=rng.randrange(80, 4_000))
        row = dict.fromkeys(header, "")
        row.update(
            {
                "message_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event": kind,
                "user_id": str(customer),
                "anonymous_id": anonymous[customer],
                "timestamp": at.astimezone(zones[customer]).isoformat(timespec="milliseconds"),
                "received_at": received.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "context.device.type": device,
                "context.app.version": "" if device == "web" else rng.choice(("4.12.0", "4.12.1", "4.13.0")),
                "properties.currency": "BRL" if "price" in properties else "",
            }
        )
        row.update({f"properties.{key}": value for key, value in properties.items()})
        found.append((at, [row[column] for column in header]))

    def shop(customer: int, at: dt.datetime, bought: list[tuple[str, str, str, str]]) -> dt.datetime:
        """Views and cart adds of `bought` (sku, name, price, quantity), an extra product viewed, sometimes added
        and removed again; the time of the last event."""
        for sku, name, price, quantity in bought:
            for _ in range(rng.choice((1, 1, 2))):
                at += dt.timedelta(seconds=rng.randrange(20, 600))
                event(VIEWED, customer, at, product_id=sku, name=name, price=price)
            at += dt.timedelta(seconds=rng.randrange(5, 120))
            event(ADDED, customer, at, product_id=sku, name=name, price=price, quantity=quantity)
        if rng.random() < 0.3:
            sku, name, price = rng.choice(catalogue)
            at += dt.timedelta(seconds=rng.randrange(20, 600))
            event(VIEWED, customer, at, product_id=sku, name=name, price=price)
            if rng.random() < 0.5:
                event(
                    ADDED, customer, at + dt.timedelta(seconds=30), product_id=sku, name=name, price=price, quantity="1"
                )
                at += dt.timedelta(seconds=rng.randrange(60, 900))
                event(REMOVED, customer, at, product_id=sku, name=name, price=price, quantity="1")
        return at

    items: dict[str, list[tuple[str, str, str, str]]] = {}
    for row in lines.rows:  # Name, Lineitem id, quantity, name, price, sku
        items.setdefault(row[0], []).append((row[5], row[3], row[4], row[2]))
    last_order: dict[int, dt.datetime] = {}
    for row in orders.rows:
        customer, created = int(row[2]), dt.datetime.strptime(row[12], "%Y-%m-%d %H:%M:%S %z")
        last_order[customer] = max(last_order.get(customer, created), created)
        if rng.random() >= TRACKED_ORDERS:
            continue
        started = created - dt.timedelta(minutes=rng.randrange(30, 180))
        shop(customer, started, items[row[0]])
        answered = created + dt.timedelta(days=rng.randrange(2, 8), minutes=rng.randrange(0, 600))
        if row[3] == "paid" and rng.random() < 0.3 and answered < LAST_EVENT:
            score = rng.choice((10, 10, 10, 9, 9, 9, 8, 8, 7, 6, 5, 3, 0))
            event(NPS, customer, answered, order_id=row[0], score=str(score), comment=rng.choice(NPS_COMMENTS))
        elif row[3] == "paid" and rng.random() < 0.1 and answered < LAST_EVENT:
            event(CSAT, customer, answered, order_id=row[0], score=str(rng.choice((5, 5, 4, 4, 3, 2, 1))))

    def some_time(customer: int, after: dt.datetime, room: dt.timedelta) -> dt.datetime:
        """A time after `after` and the customer's signup that leaves `room` before LAST_EVENT."""
        start = max(after, signed_up[customer], dt.datetime(2025, 6, 1, tzinfo=SAO_PAULO))
        return start + dt.timedelta(seconds=rng.randrange(0, max(1, int((LAST_EVENT - room - start).total_seconds()))))

    start = dt.datetime(2025, 6, 1, tzinfo=SAO_PAULO)
    for _ in range(BROWSING_SESSIONS):
        customer = FIRST_CUSTOMER + rng.randrange(CUSTOMERS)
        at = some_time(customer, start, dt.timedelta(hours=1))
        for sku, name, price in rng.sample(catalogue, rng.choice((1, 2, 2, 3, 4))):
            at += dt.timedelta(seconds=rng.randrange(15, 400))
            event(VIEWED, customer, at, product_id=sku, name=name, price=price)
    abandoned = 0
    while abandoned < ABANDONED_CARTS:  # after the customer's last order: no order follows the abandoned cart
        customer = FIRST_CUSTOMER + rng.randrange(CUSTOMERS)
        after = last_order.get(customer, start) + dt.timedelta(hours=1)
        if after > LAST_EVENT - dt.timedelta(days=4):
            continue
        cart = [(sku, name, price, str(rng.choice((1, 1, 2)))) for sku, name, price in rng.sample(catalogue, 2)]
        at = shop(customer, some_time(customer, after, dt.timedelta(days=2)), cart[: rng.choice((1, 2))])
        event(ABANDONED, customer, at + dt.timedelta(hours=rng.choice((1, 4, 24))))
        abandoned += 1
    for _ in range(PUSH_OPENS):
        customer = rng.choice(pushable)
        devices[customer] = devices[customer] if devices[customer] != "web" else rng.choice(("ios", "android"))
        event(PUSH_OPENED, customer, some_time(customer, start, dt.timedelta(hours=1)), campaign=rng.choice(CAMPAIGNS))
    sheet.rows = [row for _, row in sorted(found, key=lambda item: item[0])]  # an export in time order

    size = len(sheet.rows)
    column = header.index

    def find(at: int, kind: str | None) -> int:
        """The first good row from `at` of the event `kind` (any when None) that is not spoilt yet."""
        while at in sheet.instead or (kind is not None and sheet.rows[at][column("event")] != kind):
            at = (at + 1) % size
        return at

    # Each is a good event sent wrong, of the kind it names (cart events for the quantity and price, an NPS answer
    # for the score), written instead of it.
    bad = [
        (
            90,
            VIEWED,
            "event",
            "Product Added to Wishlist",
            "unknown_event_type",
            "an event the mapping does not translate",
        ),
        (220, NPS, "properties.score", "11", "score_out_of_range", "an NPS widget that counts to 11"),
        (410, None, "user_id", "99017", "unknown_customer", "signed up in the app after the ERP's customer export"),
        (
            600,
            None,
            "timestamp",
            "1773932461482",
            "unparseable_timestamp",
            "epoch milliseconds from an old app version",
        ),
        (850, REMOVED, "properties.quantity", "0", "non_positive_quantity", "a removal of nothing"),
        (1230, None, "user_id", "", "missing_required_field", "an anonymous visitor (not signed in)"),
        (1500, ADDED, "properties.quantity", "1.0", "unparseable_number", "a JavaScript number written as 1.0"),
        (2700, ADDED, "properties.price", "-129.90", "negative_unit_price", "a discount sent as a negative price"),
    ]
    copies = COPIES["app_events"]
    for copy in range(copies):
        for at, kind, field_name, value, reason, why in bad:
            place = find((at + copy * (size // copies)) % size, kind)  # evenly: some kinds are sparse
            row = list(sheet.rows[place])
            row[column(field_name)] = value
            sheet.replace(place, row, field_name, reason, why)
    # A survey comment over two lines, in a column the mapping leaves out: the record is a malformed row all the same.
    for at in (1040, 3050):
        place = find(at, NPS)
        row = list(sheet.rows[place])
        row[column("properties.comment")] = "Gostei muito.\nVoltarei a comprar!"
        sheet.replace(place, row, None, "malformed_row", "a survey comment over two lines (a quoted line break)")
    for at in (333, 2222):  # the SDK sent a batch twice: the same event on two lines, the first row wins
        place = find(at, None)
        row = list(sheet.rows[place])
        sheet.spoil(place + 1, row, "message_id", "duplicate_key", f"message_id {row[0]} again on the next line")
    return sheet


CONTRACT_RULES = {  # dbt's data contract rule for the values the loader loads but dbt sets aside
    ("customers", "Celular"): ("malformed_phone", "not E.164: dbt drops the phone, keeps the customer"),
}


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("ãáâàçéêíóôõúÃÁÂÇÉÍÓÚ", "aaaaceeiooouAAACEIOU"))


def _write(sheet: Sheet, *, encoding: str, delimiter: str, newline: str) -> tuple[int, list[BadRow]]:
    rows, bad = sheet.lines()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(sheet.header)
    writer.writerows(rows)
    (HERE / sheet.file).write_bytes(buffer.getvalue().encode(encoding))
    return len(rows), bad


def main() -> None:
    rng = random.Random(SEED)
    customers = _customers(rng)
    products = _products(rng)
    orders, lines = _orders_and_lines(rng, products)
    events = _events(rng, customers, products, orders, lines)
    expected: dict[str, object] = {}
    bad_rows: list[BadRow] = []
    contract: list[BadRow] = []
    for sheet, encoding, delimiter, newline in (
        (customers, "latin-1", ";", "\r\n"),
        (products, "latin-1", ";", "\r\n"),
        (orders, "utf-8", ",", "\n"),
        (lines, "utf-8", ",", "\n"),
        (events, "utf-8", ",", "\n"),
    ):
        read, bad = _write(sheet, encoding=encoding, delimiter=delimiter, newline=newline)
        for row in bad:
            if row.reason:
                continue
            row.reason, row.why = CONTRACT_RULES[(row.entity, row.column or "")]
            contract.append(row)
        loader_bad = [row for row in bad if row not in contract]
        bad_rows += loader_bad
        by_reason = Counter(row.reason for row in loader_bad)
        expected[sheet.entity] = {
            "source": sheet.file,
            "rows_read": read,
            "rows_loaded": read - len(loader_bad),
            "rows_quarantined": len(loader_bad),
            "quarantined_by_reason": dict(sorted(by_reason.items())),
            "contract_quarantined_by_rule": dict(sorted(Counter(r.reason for r in bad if r in contract).items())),
        }
    document = {
        "about": "Written by make_sample.py: what `loyalty load --mapping examples/retailer/mapping.yml` "
        "should report for each entity on a first load into empty raw tables; a second load changes nothing. "
        "contract_quarantined_by_rule: values the loader loads that dbt's data contract sets aside later.",
        "entities": expected,
        "bad_rows": [_as_dict(row) for row in bad_rows],
        "contract_bad_rows": [_as_dict(row) for row in contract],
    }
    (HERE / "expected_counts.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    _write_readme_table(bad_rows, contract)


def _as_dict(row: BadRow) -> dict[str, object]:
    return {
        "entity": row.entity,
        "file": row.file,
        "line": row.line,
        "column": row.column,
        "value": row.value,
        "reason": row.reason,
        "why": row.why,
    }


START, END = "<!-- bad rows: written by make_sample.py -->", "<!-- end of bad rows -->"


def _write_readme_table(bad_rows: list[BadRow], contract: list[BadRow]) -> None:
    """Bad rows grouped by what is wrong with them: one table line per kind, with every line number."""
    table = ["| file | column | value | reason | why | lines |", "|---|---|---|---|---|---|"]
    for header, rows in (("loader's reason", bad_rows), ("contract rule", contract)):
        if header == "contract rule":
            table += [
                "",
                "Loaded by the loader (each value parses), then quarantined by dbt's data contract "
                "(listed in `marts.data_quality_quarantine`):",
                "",
                "| file | column | value | contract rule | why | lines |",
                "|---|---|---|---|---|---|",
            ]
        kinds: dict[tuple[str, str, str, str, str], list[int]] = {}
        for row in rows:
            value = _cell(row.value) if row.reason != "duplicate_key" else ""
            why = row.why if row.reason != "duplicate_key" else "a key given again on the next line (the first loads)"
            kinds.setdefault((row.file, row.column or "(line)", value, row.reason, why), []).append(row.line)
        for (file, column, value, reason, why), numbers in kinds.items():
            table.append(f"| {file} | {column} | {value} | `{reason}` | {why} | {', '.join(map(str, numbers))} |")
    readme = HERE / "README.md"
    text = readme.read_text()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(before + START + "\n" + "\n".join(table) + "\n" + END + after)


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    if value == "":
        return "(empty)"
    shown = value if len(value) <= 40 else value[:37] + "…"
    return "`" + shown.replace("|", "\\|") + "`"


if __name__ == "__main__":
    main()
