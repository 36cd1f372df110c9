"""The life-cycle plan of simulated orders (proportions and delays against the figures stated
in docs/operations/synthetic-data.md#life-cycle), its resume logic, the queue and the clock."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from source_db.synthetic.clock import SimulatedClock
from source_db.synthetic.distributions import GEOGRAPHY, draw
from source_db.synthetic.lifecycle import REVIEW, OrderPlan, Stage, plan_order
from source_db.synthetic.progress import LifecycleQueue
from source_db.synthetic.values import US_PER_DAY, US_PER_HOUR

PURCHASE_US = 1_780_000_000 * 1_000_000
ORDERS = 4_000


def _plans() -> list[tuple[OrderPlan, int, str]]:
    """Plans of orders from customers spread like the real ones, 20% paid by boleto."""
    rng = np.random.default_rng(11)
    plans = []
    for number in range(ORDERS):
        state = int(GEOGRAPHY.city_state[draw(rng, GEOGRAPHY.customer_city_cdf, 1)[0]])
        promised = GEOGRAPHY.state_delivery_days[state] * 2.4 * np.exp(0.3 * rng.normal())
        estimated = (
            PURCHASE_US - PURCHASE_US % US_PER_DAY + int(max(round(promised), 3)) * US_PER_DAY
        )
        payment = "boleto" if rng.random() < 0.2 else "credit_card"
        plans.append(
            (
                plan_order(f"{number:032x}", PURCHASE_US, estimated, state, payment),
                estimated,
                payment,
            )
        )
    return plans


PLANS = _plans()


def _share(outcome: str) -> float:
    return sum(plan.outcome == outcome for plan, _, _ in PLANS) / ORDERS


def test_outcomes_follow_the_real_proportions() -> None:
    # Real data: 97.0% delivered, 1.1% shipped and never delivered, 0.63% canceled,
    # 0.61% unavailable. Tolerances: about 3 standard errors of 4,000 orders.
    assert _share("delivered") == pytest.approx(0.970, abs=0.008)
    assert _share("shipped") == pytest.approx(0.011, abs=0.005)
    assert _share("canceled") == pytest.approx(0.0063, abs=0.004)
    assert _share("unavailable") == pytest.approx(0.0061, abs=0.004)


def test_delays_follow_the_real_figures() -> None:
    delivered = [(plan, estimated) for plan, estimated, _ in PLANS if plan.outcome == "delivered"]
    card_approval = [
        (plan.stages[0].due_us - PURCHASE_US) / US_PER_HOUR
        for plan, _, payment in PLANS
        if payment == "credit_card" and plan.stages[0].name == "approved"
    ]
    all_approval = [
        (plan.stages[0].due_us - PURCHASE_US) / US_PER_HOUR
        for plan, _, _ in PLANS
        if plan.stages[0].name == "approved"
    ]
    handover = [(p.stages[1].due_us - p.stages[0].due_us) / US_PER_DAY for p, _ in delivered]
    delivery = [(p.stages[2].due_us - PURCHASE_US) / US_PER_DAY for p, _ in delivered]
    late = [p.stages[2].due_us - p.stages[2].due_us % US_PER_DAY > e for p, e in delivered]
    # Real data: approval median ~20 min (cards), under an hour overall; carrier handover
    # ~2 days after approval; delivery median ~10 days, mean ~12; ~7-8% delivered late.
    assert statistics.median(card_approval) == pytest.approx(1 / 3, abs=0.1)
    assert statistics.median(all_approval) < 1.0
    assert statistics.median(handover) == pytest.approx(2.0, abs=0.3)
    assert statistics.median(delivery) == pytest.approx(10.0, abs=1.5)
    assert statistics.mean(delivery) == pytest.approx(12.0, abs=1.5)
    assert sum(late) / len(late) == pytest.approx(0.075, abs=0.025)


def test_stages_come_in_time_order_and_reviews_follow_the_delay() -> None:
    for plan, _, _ in PLANS:
        times = [stage.due_us for stage in plan.stages]
        assert times == sorted(times) and times[0] > PURCHASE_US
        assert plan.stages[-1].name in {REVIEW, plan.outcome}
    delivered = [(p, e) for p, e, _ in PLANS if p.outcome == "delivered"]
    assert all(p.stages[-1].name == REVIEW for p, _ in delivered)
    on_time = [p.review_score or 0 for p, e in delivered if p.stages[2].due_us < e]
    week_late = [
        p.review_score or 0 for p, e in delivered if p.stages[2].due_us > e + 7 * US_PER_DAY
    ]
    assert statistics.mean(on_time) > 4.0
    assert statistics.mean(week_late) < 2.6


def test_a_plan_is_the_same_for_the_same_order() -> None:
    first = plan_order("a" * 32, PURCHASE_US, PURCHASE_US + 20 * US_PER_DAY, 25, "boleto")
    again = plan_order("a" * 32, PURCHASE_US, PURCHASE_US + 20 * US_PER_DAY, 25, "boleto")
    other = plan_order("b" * 32, PURCHASE_US, PURCHASE_US + 20 * US_PER_DAY, 25, "boleto")
    assert first == again
    assert first != other


def test_pending_stages_resume_after_the_current_status() -> None:
    plan = OrderPlan(
        "c" * 32,
        "delivered",
        (Stage("approved", 1), Stage("shipped", 2), Stage("delivered", 3), Stage(REVIEW, 4)),
        5,
        3,
    )
    names = {
        (status, reviewed): [stage.name for stage in plan.pending(status, reviewed)]
        for status, reviewed in [
            ("created", False), ("approved", False), ("shipped", False),
            ("delivered", False), ("delivered", True),
        ]
    }  # fmt: skip
    assert names == {
        ("created", False): ["approved", "shipped", "delivered", REVIEW],
        ("approved", False): ["shipped", "delivered", REVIEW],
        ("shipped", False): ["delivered", REVIEW],
        ("delivered", False): [REVIEW],
        ("delivered", True): [],
    }


def test_the_queue_releases_stages_when_the_injected_clock_reaches_them() -> None:
    now = [0.0]
    clock = SimulatedClock(PURCHASE_US, days_per_minute=1.0, monotonic=lambda: now[0])
    queue = LifecycleQueue()
    for plan, _, _ in PLANS[:50]:
        queue.add(plan, "created", reviewed=False)
    assert queue.orders_in_flight() == 50
    released: list[Stage] = []
    for minute in range(0, 120):
        now[0] = minute * 60.0
        due = queue.pop_due(clock.now_us(), limit=10_000)
        assert all(stage.due_us <= clock.now_us() for _, stage in due)
        released.extend(stage for _, stage in due)
    # 120 real minutes at 1 day per minute: every stage of these orders is due.
    assert len(queue) == 0
    assert len(released) == sum(len(plan.stages) for plan, _, _ in PLANS[:50])
    assert clock.now_us() == PURCHASE_US + 119 * US_PER_DAY


def test_the_clock_rejects_a_speed_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="expected days_per_minute > 0, got 0"):
        SimulatedClock(PURCHASE_US, days_per_minute=0)
