"""The synthetic retailer: deterministic, truth written first, never overwrites real data."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from loyalty_dev.simulation import GeneratorConfig, advance_to, generate
from loyalty_dev.simulation.generator import RealDataError
from loyalty_dev.simulation.world import DeliveredMessage, react_to_messages

pytestmark = pytest.mark.integration

SMALL = GeneratorConfig(customers=500, products=30, seed=3, history_days=120, campaign_days=14)


def _fingerprint(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """select count(*), sum(order_total),
                      md5(string_agg(order_id || customer_id || ordered_at, ',' order by order_id))
               from raw.orders"""
        ).fetchone()


class TestGenerator:
    def test_same_seed_same_world(self, clean_warehouse: str) -> None:
        """Two generations with one config produce identical orders; another seed does not."""
        with psycopg.connect(clean_warehouse) as conn:
            generate(conn, SMALL)
        first = _fingerprint(clean_warehouse)
        with psycopg.connect(clean_warehouse) as conn:
            generate(conn, SMALL)
        assert _fingerprint(clean_warehouse) == first
        with psycopg.connect(clean_warehouse) as conn:
            generate(conn, GeneratorConfig(**{**SMALL.__dict__, "seed": 4}))
        assert _fingerprint(clean_warehouse) != first

    def test_app_install_tokens(self, clean_warehouse: str) -> None:
        """Every customer with push consent has an FCM token of their app install, and about half of the
        others (the app without notifications); tokens are unique, the same for the same seed, other for
        another, and reach raw.customers with the customer."""

        def tokens(cfg: GeneratorConfig) -> dict[int, tuple[bool, str | None]]:
            with psycopg.connect(clean_warehouse) as conn:
                generate(conn, cfg)
                released = conn.execute("select customer_id, push_consent, push_token from raw.customers").fetchall()
                scheduled = conn.execute(
                    "select customer_id, push_consent, push_token from sim.scheduled_customers"
                ).fetchall()
            assert released and set(released) <= set(scheduled)
            return {customer_id: (consent, token) for customer_id, consent, token in scheduled}

        first = tokens(SMALL)
        assert all(token is not None for consent, token in first.values() if consent)
        without_consent = [token for consent, token in first.values() if not consent]
        assert 0.4 < sum(token is not None for token in without_consent) / len(without_consent) < 0.6
        given = [token for _, token in first.values() if token is not None]
        assert len(set(given)) == len(given)
        assert tokens(SMALL) == first
        other = tokens(GeneratorConfig(**{**SMALL.__dict__, "seed": 4}))
        assert not {token for _, token in other.values()} & set(given)

    def test_history_only_until_the_campaign(self, clean_warehouse: str) -> None:
        """Only orders before the campaign start are in raw; the rest arrive day by day."""
        with psycopg.connect(clean_warehouse) as conn:
            generate(conn, SMALL)
            latest = conn.execute("select max(ordered_at)::date from raw.orders").fetchone()[0]
            assert latest < SMALL.campaign_start
            advance_to(conn, SMALL.campaign_start + dt.timedelta(days=7))
            later = conn.execute("select max(ordered_at)::date from raw.orders").fetchone()[0]
            lines_without_order = conn.execute(
                "select count(*) from raw.order_lines where order_id not in (select order_id from raw.orders)"
            ).fetchone()[0]
        assert SMALL.campaign_start <= later <= SMALL.campaign_start + dt.timedelta(days=7)
        assert lines_without_order == 0

    def test_truth_is_written_before_anything_runs(self, clean_warehouse: str) -> None:
        """sim.truth holds each workflow's true effect right after generation."""
        with psycopg.connect(clean_warehouse) as conn:
            generate(conn, SMALL)
            truth = dict(conn.execute("select workflow_id, persuasion_rate from sim.truth").fetchall())
        assert truth["win_back"] > 0

    def test_refuses_a_warehouse_with_real_customers(self, clean_warehouse: str) -> None:
        """Customers the generator did not write are never truncated."""
        with psycopg.connect(clean_warehouse) as conn:
            conn.execute("create schema if not exists sim")
            conn.execute("drop table if exists sim.settings")
            conn.execute("insert into raw.customers (customer_id, email, signup_at) values (1, 'real@shop.com', now())")
        with psycopg.connect(clean_warehouse) as conn, pytest.raises(RealDataError, match="empty database"):
            generate(conn, SMALL)
        with psycopg.connect(clean_warehouse) as conn:
            assert conn.execute("select count(*) from raw.customers").fetchone()[0] == 1

    def test_reactions_do_not_depend_on_the_providers_message_ids(self, clean_warehouse: str) -> None:
        """The same deliveries under other provider ids (the ids follow request order) persuade the same
        customers on the same days: a rerun of the campaign reproduces its measured lift."""
        day = SMALL.campaign_start

        def persuaded(key_prefix: str) -> set[tuple]:
            with psycopg.connect(clean_warehouse) as conn:
                generate(conn, SMALL)
                emails = conn.execute("select email from raw.customers order by customer_id limit 400").fetchall()
                messages = [
                    DeliveredMessage(f"{key_prefix}-{n}", email, "win_back", day) for n, (email,) in enumerate(emails)
                ]
                react_to_messages(conn, reversed(messages), seed=SMALL.seed)
                return set(
                    conn.execute(
                        "select customer_id, so.ordered_at from sim.reactions join sim.scheduled_orders as so "
                        "using (order_id, customer_id) where persuaded"
                    ).fetchall()
                )

        first = persuaded("a")
        assert 10 <= len(first) <= 80  # ~10% of 400 persuaded: the draw is live, not all or nothing
        assert persuaded("b") == first

    def test_an_sms_or_push_reaches_its_customer_through_the_ledger(self, clean_warehouse: str) -> None:
        """An SMS or push record names only its send: the ledger row says whose it is and which workflow sent it,
        so it persuades exactly like the email it stands for; a send the ledger does not know is ignored."""
        day = SMALL.campaign_start
        with psycopg.connect(clean_warehouse) as conn:
            generate(conn, SMALL)
            (customer_id,) = conn.execute(
                "select customer_id from raw.customers order by customer_id limit 1"
            ).fetchone()
            conn.execute(
                """insert into loyalty.send_ledger (send_id, workflow_id, step_id, customer_id, cycle_key, run_date,
                       variant, is_holdout, channel, recipient, status)
                   values ('s-sms', 'win_back', 'email_1', %(c)s, 'k', %(d)s, 'a', false, 'sms', '+1', 'sent'),
                          ('s-push', 'birthday_reward', 'greeting', %(c)s, 'k', %(d)s, 'a', false, 'push', 't',
                           'sent')""",
                {"c": customer_id, "d": day},
            )
            messages = [
                DeliveredMessage("SM1", "+1", None, day, "sms", send_id="s-sms"),
                DeliveredMessage("push-1", "t", None, day, "push", send_id="s-push"),
                DeliveredMessage("SM2", "+1", None, day, "sms", send_id="not-ours"),
            ]
            react_to_messages(conn, messages, seed=SMALL.seed)
            rows = conn.execute("select message_key, customer_id, workflow_id from sim.reactions order by 1").fetchall()
        assert rows == [("SM1", customer_id, "win_back"), ("push-1", customer_id, "birthday_reward")]

    def test_a_follow_up_delayed_by_the_campaign_cadence_is_the_same_exposure(self, clean_warehouse: str) -> None:
        """second_purchase's follow-up is due 5 days after the nudge; run every 3 days, it goes out on day
        6 and is still the same exposure (not a second chance to persuade); run daily, day 6 is a new one."""
        day = SMALL.campaign_start

        def counted(run_every_days: int) -> list[bool]:
            with psycopg.connect(clean_warehouse) as conn:
                generate(conn, SMALL)
                (email,) = conn.execute("select email from raw.customers order by customer_id limit 1").fetchone()
                messages = [
                    DeliveredMessage("nudge", email, "second_purchase", day),
                    DeliveredMessage("follow-up", email, "second_purchase", day + dt.timedelta(days=6)),
                ]
                react_to_messages(conn, messages, seed=SMALL.seed, run_every_days=run_every_days)
                rows = conn.execute("select counted from sim.reactions order by delivered_on").fetchall()
                return [row[0] for row in rows]

        assert counted(run_every_days=3) == [True, False]
        assert counted(run_every_days=1) == [True, True]
