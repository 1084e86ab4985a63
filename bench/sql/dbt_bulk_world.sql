-- A retailer at scale for bench/dbt_build.py, written in the warehouse with generate_series (seconds,
-- not the Python generator's minutes): %(customers)s customers, %(orders)s orders and %(lines)s order lines
-- over the %(history_days)s days ending on %(run_date)s, each row loaded the night after it happened.
-- Deterministic: every "random" choice is a hash of the row number.
-- Postgres-only on purpose (a benchmark fixture, not a model). Rows are written in loaded_at order,
-- as nightly loads append them (what the raw tables' BRIN indexes on loaded_at rely on).

truncate raw.customers, raw.products, raw.orders, raw.order_lines, raw.message_events, raw.quarantine,
    loyalty.send_ledger;

insert into raw.products (product_id, product_name, category, unit_price, loaded_at)
select
    product_id,
    'Product ' || product_id,
    (array['apparel', 'beauty', 'books', 'electronics', 'grocery', 'home', 'pets', 'sports', 'toys', 'wellness'])[
        1 + product_id %% 10
    ],
    round((5 + (product_id * 7919) %% 200)::numeric, 2),
    %(run_date)s::date - %(history_days)s
from generate_series(1, %(products)s) as product_id;

insert into raw.customers (
    customer_id, email, phone, first_name, locale, timezone, birthday, signup_at,
    email_consent, sms_consent, push_consent, push_token, loaded_at
)
select
    customer_id,
    'customer' || customer_id || '@example.com',
    '+1555' || lpad(customer_id::text, 7, '0'),
    (array['Ana', 'Bruno', 'Carla', 'Diego', 'Elena'])[1 + customer_id %% 5],
    case when customer_id %% 2 = 0 then 'pt-BR' else 'en' end,
    case when customer_id %% 2 = 0 then 'America/Sao_Paulo' else 'America/New_York' end,
    date '1950-01-01' + (customer_id * 37 %% 20000)::int,
    signed_up_at,
    customer_id %% 10 <> 0,
    customer_id %% 3 = 0,
    customer_id %% 5 = 0,
    case when customer_id %% 5 = 0 then 'fcm-' || customer_id || '-' || md5(customer_id::text) end,  -- the app
    date_trunc('day', signed_up_at) + interval '1 day 1 hour'
from (
    select
        customer_id,
        (%(run_date)s::date - %(history_days)s)::timestamptz
            + ((abs(hashint4(customer_id)) %% (%(history_days)s * 86400)) * interval '1 second') as signed_up_at
    from generate_series(1, %(customers)s) as customer_id
) as customers
order by signed_up_at;

insert into raw.orders (order_id, customer_id, ordered_at, status, order_total, loaded_at)
select
    'O' || order_number,
    1 + abs(hashint4(order_number)) %% %(customers)s,
    ordered_at,
    case when order_number %% 20 = 0 then 'cancelled' else 'completed' end,
    round((10 + abs(hashint4(order_number + 7)) %% 300)::numeric, 2),
    date_trunc('day', ordered_at) + interval '1 day 1 hour'
from (
    select
        order_number,
        (%(run_date)s::date - %(history_days)s + 1)::timestamptz
            + ((abs(hashint4(order_number * 31)) %% (%(history_days)s * 86400)) * interval '1 second') as ordered_at
    from generate_series(1, %(orders)s) as order_number
) as orders
order by ordered_at;

insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price, loaded_at)
select
    'L' || lines.line_number,
    orders.order_id,
    1 + abs(hashint4(lines.line_number)) %% %(products)s,
    1 + abs(hashint4(lines.line_number * 3)) %% 3,
    round((5 + (abs(hashint4(lines.line_number)) %% %(products)s * 7919) %% 200)::numeric, 2),
    orders.loaded_at  -- a line is loaded with its order, the night after it
from (
    select line_number, 'O' || (1 + abs(hashint4(line_number * 17)) %% %(orders)s) as order_id
    from generate_series(1, %(lines)s) as line_number
) as lines
inner join raw.orders on lines.order_id = orders.order_id
order by orders.loaded_at;

analyze raw.customers;
analyze raw.products;
analyze raw.orders;
analyze raw.order_lines;
