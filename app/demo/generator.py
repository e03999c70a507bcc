"""A realistic synthetic history of a subscription business (pure, deterministic per seed).

Used by ``holdfast demo`` and by the tests that prove the health score predicts churn. Each
customer follows one story:

* **steady** — signs up on a plan, uses the product on most days, pays every month, answers NPS
  surveys happily; a few upgrade or downgrade along the way;
* **fading** — starts like a steady customer, then, five to eleven weeks before cancelling, uses
  the product less and less, answers a survey grumpily, and cancels (at period end, sometimes);
* **payment trouble** — cards fail; most recover with a later payment, some are cancelled;
* **pauser** — pauses for one to three months (usage stops), then resumes or, rarely, cancels.

Events come out as API payloads (``POST /v1/events`` bodies) with idempotency keys derived from
the seed, so loading the same seed twice stores nothing new.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PLANS = (("basic", "Basic", 1900), ("pro", "Pro", 4900), ("team", "Team", 9900))
PLAN_WEIGHTS = (0.45, 0.40, 0.15)
FADING_REASONS = (
    "unused",
    "too_expensive",
    "missing_features",
    "switched_service",
    "too_complex",
    "low_quality",
    "customer_service",
    "other",
)
FADING_REASON_WEIGHTS = (0.30, 0.25, 0.15, 0.10, 0.08, 0.05, 0.04, 0.03)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class FlowAction:
    """A customer starting a cancellation flow at ``at`` and then accepting the first offer,
    declining every offer, or walking away (``abandon``)."""

    customer: str
    at: datetime
    reason: str
    decision: str


@dataclass(frozen=True)
class DemoHistory:
    events: list[dict[str, Any]]
    customers: int
    start: datetime
    end: datetime
    flows: list[FlowAction]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Writer:
    def __init__(self, seed: int, end: datetime, flows: bool) -> None:
        self.seed = seed
        self.end = end
        self.with_flows = flows
        self.events: list[dict[str, Any]] = []
        self.flows: list[FlowAction] = []

    def add(self, customer: str, kind: str, at: datetime, **fields: Any) -> None:
        if at >= self.end:
            return
        key = f"demo-{self.seed}-{customer}-{len(self.events)}"
        self.events.append(
            {
                "idempotency_key": key,
                "customer_id": customer,
                "type": kind,
                "occurred_at": _iso(at),
                **fields,
            }
        )


def generate(
    customers: int = 2000,
    *,
    months: int = 12,
    seed: int = 1,
    end: datetime | None = None,
    flows: bool = False,
) -> DemoHistory:
    """``customers`` signing up over ``months`` months that end at ``end`` (default: the start
    of the current UTC hour), with daily usage events on active days.

    With ``flows``, half of the fading customers go through a cancellation flow instead of
    cancelling directly: they accept an offer (35%, and stay), decline (55%: the flow records
    their cancellation) or walk away (10%, and stay). Those choices come from a random stream
    of their own, so the rest of the history is the same with or without flows.
    """
    rnd = random.Random(seed)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=30 * months)
    w = _Writer(seed, end, flows)
    for n in range(customers):
        customer = f"cus_{seed}_{n:05d}"
        # Sign-ups spread over the period, a little denser recently (the business grows).
        signup = start + timedelta(
            days=(30 * months) * rnd.random() ** 0.8,
            hours=rnd.randrange(8, 20),
            minutes=rnd.randrange(60),
        )
        story = rnd.choices(("steady", "fading", "payment", "pauser"), (0.55, 0.27, 0.10, 0.08))[0]
        _customer(w, rnd, customer, signup, story)
    w.events.sort(key=lambda e: (e["occurred_at"], e["idempotency_key"]))
    w.flows.sort(key=lambda f: (f.at, f.customer))
    return DemoHistory(events=w.events, customers=customers, start=start, end=end, flows=w.flows)


def _customer(w: _Writer, rnd: random.Random, customer: str, signup: datetime, story: str) -> None:
    plan_id, _, price = rnd.choices(PLANS, PLAN_WEIGHTS)[0]
    w.add(customer, "purchase", signup, amount=price, currency="USD", plan=plan_id, mrr=price)
    intensity = rnd.uniform(2, 12)  # daily actions of an engaged customer
    active_share = rnd.uniform(0.55, 0.95)

    churn_at: datetime | None = None
    fade_from: datetime | None = None
    pause: tuple[datetime, datetime] | None = None
    if story == "fading":
        churn_at = signup + timedelta(days=rnd.uniform(45, 240))
        fade_from = churn_at - timedelta(days=rnd.uniform(35, 80))
    elif story == "pauser":
        begin = signup + timedelta(days=rnd.uniform(30, 200))
        pause = (begin, begin + timedelta(days=30 * rnd.randint(1, 3)))

    # Monthly renewals, failed payments, plan changes.
    failures_left = rnd.randint(1, 3) if story == "payment" else 0
    involuntary = story == "payment" and rnd.random() < 0.35
    renew = signup + timedelta(days=30)
    while renew < w.end and (churn_at is None or renew < churn_at):
        if pause and pause[0] <= renew < pause[1]:
            renew += timedelta(days=30)
            continue
        if failures_left and rnd.random() < 0.5:
            w.add(
                customer,
                "payment_failed",
                renew,
                amount=price,
                currency="USD",
                reason="card_declined",
            )
            failures_left -= 1
            if involuntary and failures_left == 0:
                churn_at = renew + timedelta(days=rnd.uniform(5, 12))
                fade_from = renew - timedelta(days=7)
                w.add(
                    customer,
                    "cancellation",
                    churn_at,
                    reason="other",
                    comment="payment could not be collected",
                )
                break
            w.add(
                customer,
                "purchase",
                renew + timedelta(days=rnd.uniform(1, 4)),
                amount=price,
                currency="USD",
                mrr=price,
            )
        elif story == "steady" and rnd.random() < 0.03:
            plan_id, _, price = rnd.choice(PLANS)
            w.add(customer, "plan_change", renew, plan=plan_id, mrr=price)
            w.add(
                customer,
                "purchase",
                renew + timedelta(minutes=5),
                amount=price,
                currency="USD",
                mrr=price,
            )
        else:
            w.add(customer, "purchase", renew, amount=price, currency="USD", mrr=price)
        renew += timedelta(days=30)

    flow: FlowAction | None = None
    if story == "fading" and churn_at is not None and w.with_flows and churn_at < w.end:
        own = random.Random(f"{w.seed}:{customer}:flow")
        if own.random() < 0.5:
            decision = own.choices(("accept", "decline", "abandon"), (0.35, 0.55, 0.10))[0]
            flow = FlowAction(customer, churn_at - timedelta(hours=2), "", decision)
    if story == "fading" and churn_at is not None:
        reason = rnd.choices(FADING_REASONS, FADING_REASON_WEIGHTS)[0]
        if flow is not None:
            # The flow replaces the cancellation: a decline records it, anything else saves.
            w.flows.append(FlowAction(flow.customer, flow.at, reason, flow.decision))
            rnd.random()  # the draw the cancellation below would have made
        elif rnd.random() < 0.6:
            # Cancel at period end (the usual way): requested during the last paid month.
            w.add(
                customer,
                "cancellation",
                churn_at - timedelta(days=rnd.uniform(2, 30)),
                reason=reason,
                effective_at=_iso(churn_at),
            )
        else:
            w.add(customer, "cancellation", churn_at, reason=reason)
    if pause:
        w.add(customer, "pause", pause[0], resume_at=_iso(pause[1]), reason="seasonal")
        if rnd.random() < 0.15:
            churn_at = pause[1] - timedelta(days=rnd.uniform(1, 10))
            w.add(customer, "cancellation", churn_at, reason="unused")

    # NPS surveys about every 90 days; fading customers answer lower as they fade.
    survey = signup + timedelta(days=rnd.uniform(20, 90))
    while survey < w.end and (churn_at is None or survey < churn_at):
        fading = fade_from is not None and survey >= fade_from
        nps = rnd.randint(0, 6) if fading else rnd.choices((6, 7, 8, 9, 10), (1, 2, 3, 3, 3))[0]
        if rnd.random() < 0.6:
            w.add(customer, "feedback", survey, nps=nps)
        survey += timedelta(days=rnd.uniform(60, 120))

    # Usage, one event per active day.
    day = signup.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
    last_day = min(w.end, churn_at) if churn_at else w.end
    while day < last_day:
        if pause and pause[0] <= day < pause[1]:
            day += DAY
            continue
        level = intensity
        share = active_share
        if fade_from is not None and day >= fade_from and churn_at is not None:
            left = max(0.0, (churn_at - day) / (churn_at - fade_from))
            level *= 0.1 + 0.9 * left
            share *= 0.2 + 0.8 * left
        if day.weekday() >= 5:
            share *= 0.5
        if rnd.random() < share:
            quantity = max(1, round(rnd.gauss(level, level / 3)))
            w.add(
                customer,
                "usage",
                day + timedelta(hours=rnd.randrange(7, 22)),
                quantity=quantity,
                feature=rnd.choice(("reports", "export", "search", "dashboard")),
            )
        day += DAY

    if flow is not None and flow.decision != "decline":
        _saved(w, customer, flow.at, price, intensity * 0.6, active_share)


def _saved(
    w: _Writer, customer: str, since: datetime, price: int, level: float, share: float
) -> None:
    """A fading customer kept by a flow: usage comes back (at a lower level) and the monthly
    payments go on (without ``mrr``: the price is whatever the accepted offer made it)."""
    own = random.Random(f"{w.seed}:{customer}:saved")
    renew = since + timedelta(days=30)
    while renew < w.end:
        w.add(customer, "purchase", renew, amount=price, currency="USD")
        renew += timedelta(days=30)
    day = since.replace(hour=0, minute=0, second=0, microsecond=0) + 2 * DAY
    while day < w.end:
        if own.random() < share * (0.5 if day.weekday() >= 5 else 1.0):
            w.add(
                customer,
                "usage",
                day + timedelta(hours=own.randrange(7, 22)),
                quantity=max(1, round(own.gauss(level, level / 3))),
                feature="reports",
            )
        day += DAY
