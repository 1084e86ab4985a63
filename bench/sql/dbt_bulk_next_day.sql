-- One more day for bench/dbt_build.py: the signups, orders and lines of %(day)s, loaded the night after
-- (the same shapes and rates as dbt_bulk_world.sql; order and line numbers continue after the history).

insert into raw.customers (
    customer_id, email, phone, first_name, locale, timezone, birthday, signup_at,
    email_consent, sms_consent, push_consent, loaded_at
)
select
    customer_id,
    'customer' || customer_id || '@example.com',
    '+1555' || lpad(customer_id::text, 7, '0'),
    'Ana',
    'en',
    'America/New_York',
    date '1950-01-01' + (customer_id * 37 %% 20000)::int,
    %(day)s::timestamptz + ((abs(hashint4(customer_id)) %% 86400) * interval '1 second'),
    true,
    false,
    false,
    %(day)s::timestamptz + interval '1 day 1 hour'
from generate_series(%(customers)s + 1, %(customers)s + %(new_customers)s) as customer_id;

insert into raw.orders (order_id, customer_id, ordered_at, status, order_total, loaded_at)
select
    'O' || order_number,
    1 + abs(hashint4(order_number)) %% (%(customers)s + %(new_customers)s),
    %(day)s::timestamptz + ((abs(hashint4(order_number * 31)) %% 86400) * interval '1 second'),
    'completed',
    round((10 + abs(hashint4(order_number + 7)) %% 300)::numeric, 2),
    %(day)s::timestamptz + interval '1 day 1 hour'
from generate_series(%(orders)s + 1, %(orders)s + %(new_orders)s) as order_number;

insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price, loaded_at)
select
    'L' || line_number,
    'O' || (%(orders)s + 1 + abs(hashint4(line_number * 17)) %% %(new_orders)s),
    1 + abs(hashint4(line_number)) %% %(products)s,
    1 + abs(hashint4(line_number * 3)) %% 3,
    round((5 + (abs(hashint4(line_number)) %% %(products)s * 7919) %% 200)::numeric, 2),
    %(day)s::timestamptz + interval '1 day 1 hour'
from generate_series(%(lines)s + 1, %(lines)s + %(new_lines)s) as line_number;
