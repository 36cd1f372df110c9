"""Life cycle of a simulated order: which stages it goes through after purchase, and when.

An order is bought ``created``; its plan then lists the later stages, each with its due time
(São Paulo wall-clock microseconds, like the builders): approval, carrier handover
(``shipped``), delivery, or a cancellation (``canceled``/``unavailable``), and the review.
The plan is a pure function of the order's id, purchase time, estimated delivery date,
customer state and payment type, drawn from a generator seeded by the order id: the
simulator draws it when the order is bought and again, identically, after a restart, so no
future date is ever stored. Proportions and delays are approximate figures of the public
Olist dataset (docs/operations/synthetic-data.md#life-cycle).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from source_db.synthetic import reference_data as ref
from source_db.synthetic.distributions import (
    GEOGRAPHY,
    LET_DOWN_SCORE_CDF,
    ON_TIME_SCORE_CDF,
    UNDELIVERED_SCORE_CDF,
    draw,
    let_down_share,
    lognormal,
    to_cdf,
)
from source_db.synthetic.values import US_PER_DAY, US_PER_HOUR, US_PER_SECOND

OUTCOME_WEIGHTS: dict[str, float] = {
    # Final statuses of the real data (orders per status); the 624 orders the snapshot caught
    # mid-way (created, approved, invoiced, processing) are left out: a simulated order always
    # moves on. "shipped" is an order handed to the carrier and never delivered.
    "delivered": ref.ORDER_STATUS_WEIGHTS["delivered"],
    "shipped": ref.ORDER_STATUS_WEIGHTS["shipped"],
    "canceled": ref.ORDER_STATUS_WEIGHTS["canceled"],
    "unavailable": ref.ORDER_STATUS_WEIGHTS["unavailable"],
}
OUTCOMES = tuple(OUTCOME_WEIGHTS)
OUTCOME_CDF = to_cdf(list(OUTCOME_WEIGHTS.values()))
CARD_APPROVAL_MEDIAN_US = 20 * 60 * US_PER_SECOND
"""Cards and vouchers: approved ~20 minutes after purchase (median; log-normal, sigma 1.1)."""
BOLETO_APPROVAL_MEDIAN_US = 26 * US_PER_HOUR
"""A boleto is paid and cleared in about a day (median 26 h; log-normal, sigma 0.6)."""
HANDOVER_MEDIAN_DAYS = 2.0
"""Approval to carrier handover: median ~2 days (log-normal, sigma 0.7)."""
CANCELED_BEFORE_APPROVAL_SHARE = 0.15
"""Canceled orders that were never approved."""
CANCEL_MEDIAN_DAYS = 1.5
"""Purchase to cancellation (or to "unavailable"): median 1.5 days (log-normal, sigma 0.8)."""
UNDELIVERED_REVIEW_SHARE = 0.8
"""Orders that went wrong (shipped and lost, canceled, unavailable) that get a review."""
PLAN_STATUSES = ("approved", "shipped", "delivered", "canceled", "unavailable")
REVIEW = "review"


@dataclass(frozen=True)
class Stage:
    """One step of an order's life: the status it moves to (or ``review``), due at ``due_us``."""

    name: str
    due_us: int


@dataclass(frozen=True)
class OrderPlan:
    """The stages of one order after purchase, in time order, and its review if it gets one."""

    order_id: str
    outcome: str
    stages: tuple[Stage, ...]
    review_score: int | None = None
    review_created_us: int | None = None

    def pending(self, status: str, reviewed: bool) -> tuple[Stage, ...]:
        """Stages still to come for an order now in ``status``, reviewed or not."""
        names = [stage.name for stage in self.stages]
        after = names.index(status) + 1 if status in names else 0
        return tuple(
            stage
            for stage in self.stages[after:]
            if not (stage.name == REVIEW and reviewed) and stage.name != status
        )


def _order_rng(order_id: str) -> np.random.Generator:
    digest = hashlib.blake2b(order_id.encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def plan_order(
    order_id: str, purchase_us: int, estimated_us: int, state: int, payment_type: str
) -> OrderPlan:
    """The life cycle of one order; the same arguments always give the same plan."""
    rng = _order_rng(order_id)
    outcome = OUTCOMES[int(draw(rng, OUTCOME_CDF, 1)[0])]
    median = BOLETO_APPROVAL_MEDIAN_US if payment_type == "boleto" else CARD_APPROVAL_MEDIAN_US
    sigma = 0.6 if payment_type == "boleto" else 1.1
    approval = purchase_us + _whole_seconds(
        max(float(lognormal(rng, median, sigma, 1)[0]), 30.0 * US_PER_SECOND)
    )
    handover = approval + _whole_seconds(
        max(float(lognormal(rng, HANDOVER_MEDIAN_DAYS, 0.7, 1)[0]), 0.1) * US_PER_DAY
    )
    state_days = float(GEOGRAPHY.state_delivery_days[state])
    transit_days = max(float(lognormal(rng, state_days, 0.5, 1)[0]), 1.0)
    delivery = max(
        purchase_us + _whole_seconds(transit_days * US_PER_DAY), handover + US_PER_DAY // 2
    )
    ended = purchase_us + _whole_seconds(
        max(float(lognormal(rng, CANCEL_MEDIAN_DAYS, 0.8, 1)[0]), 0.05) * US_PER_DAY
    )
    never_approved = float(rng.random()) < CANCELED_BEFORE_APPROVAL_SHARE
    gets_review = float(rng.random()) < UNDELIVERED_REVIEW_SHARE
    answer_delay = _whole_seconds(
        max(float(lognormal(rng, 1.3 * US_PER_DAY, 0.9, 1)[0]), float(US_PER_HOUR))
    )
    let_down_pick = float(rng.random())
    scores = (
        draw(rng, LET_DOWN_SCORE_CDF, 1)[0],
        draw(rng, ON_TIME_SCORE_CDF, 1)[0],
        draw(rng, UNDELIVERED_SCORE_CDF, 1)[0],
    )

    stages: list[Stage] = []
    if outcome == "delivered":
        stages = [Stage("approved", approval), Stage("shipped", handover)]
        stages.append(Stage("delivered", delivery))
        delay_days = (_floor_day(delivery) - estimated_us) // US_PER_DAY
        let_down = let_down_pick < float(let_down_share(np.array([delay_days]))[0])
        score = int(scores[0] if let_down else scores[1]) + 1
        created = _floor_day(delivery) + US_PER_DAY
        stages.append(Stage(REVIEW, created + answer_delay))
        return OrderPlan(order_id, outcome, tuple(stages), score, created)
    if outcome == "shipped":
        stages = [Stage("approved", approval), Stage("shipped", handover)]
        last = handover
    else:
        if not (outcome == "canceled" and never_approved) and approval < ended:
            stages.append(Stage("approved", approval))
        stages.append(Stage(outcome, ended))
        last = ended
    if not gets_review:
        return OrderPlan(order_id, outcome, tuple(stages))
    created = max(_floor_day(estimated_us), _floor_day(last)) + US_PER_DAY
    stages.append(Stage(REVIEW, created + answer_delay))
    return OrderPlan(order_id, outcome, tuple(stages), int(scores[2]) + 1, created)


def _whole_seconds(value_us: float) -> int:
    return int(value_us // US_PER_SECOND) * US_PER_SECOND


def _floor_day(value_us: int) -> int:
    return value_us - value_us % US_PER_DAY


__all__ = ["OUTCOMES", "OrderPlan", "Stage", "plan_order"]
