from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.db import Session
from app.metrics import service
from app.metrics.schemas import (
    MAX_COHORT_PERIODS,
    MAX_PERIODS,
    MAX_VALUE_MONTHS,
    CancellationsQuery,
    CancellationsRead,
    ChurnQuery,
    ChurnSeriesRead,
    CohortMatrixRead,
    CohortQuery,
    LtvQuery,
    LtvRead,
    RepeatPurchasesQuery,
    RepeatPurchasesRead,
    SummaryQuery,
    SummaryRead,
)
from app.openapi import responses
from app.tenants.auth import Reader

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])

_COMMON = """
**Shared rules.** Computed from each customer's status changes (`active`, `paused`,
`cancelled`, with plan and MRR), counted when they take effect, not when requested; changes
effective after `as_of` (default now) are ignored. Periods are half-open `[start, end)` in UTC.
The state of a customer *at instant t* is the one after all its changes effective strictly
before t, so a change exactly on a boundary belongs to the period that starts there. A customer
is *active* at t when its status is `active` or `paused`; a customer with no change yet is a
lead. *MRR at t* is the customer's MRR then, and 0 when paused or cancelled.

**Currency.** MRR only adds up in one currency: `currency` (default: the currency of most
customers with MRR; `USD` when there is none). Customers in another currency are left out of
every figure and their currencies listed in `other_currencies`; customers without a currency
count as the selected one.

Dates (`2025-01-31`) mean UTC midnight; date-times need an offset. Percentages are returned at
full precision, null when their denominator is 0. Money is in minor units.
"""

_CHURN = f"""One row per calendar period (UTC) that overlaps `[start, end)`, every period
present even when nothing happened. Periods are whole calendar periods: days, ISO weeks starting
Monday, months, quarters (January, April, July, October); the first starts at `start` truncated
to the period, the last is the one containing the instant before `end`. At most {MAX_PERIODS}.

- `customers_at_start`, `customers_at_end`: active at the period's start, at its end.
- `churned`: active at start and not at end. `churn_rate` = churned / customers_at_start x 100.
  A customer who starts and cancels inside the period is not in the denominator; one who
  cancels and comes back inside the period is not churned; a pause is not churn.
- `new`: first-ever activation inside the period; `mrr_new`: their MRR at the period's end
  (0 for those paused or gone by then). `reactivated`: customers who came back from cancelled
  inside the period. `paused`: paused at end.
- `mrr_at_start`, `mrr_at_end`; `mrr_churned`: MRR at start of the churned customers. For
  customers active at both ends: `mrr_contraction` = sum of drops in their MRR (downgrades,
  discounts, pauses), `mrr_expansion` = sum of rises.
- `revenue_churn_rate` = (mrr_churned + mrr_contraction) / mrr_at_start x 100.
  `net_revenue_retention` = MRR at end of the customers active at start / mrr_at_start x 100.

Example: 120 customers active on 1 March, 30 of them not active on 1 April: churn_rate 25.

`plan` restricts each period to the customers whose plan at that period's start is `plan`
(so `new` is 0 with a plan filter: a new customer had no plan at the start).
{_COMMON}"""

_COHORTS = f"""Signup cohorts x periods since signup. A customer's cohort is the period of its
first activation. Cohorts are the periods of `[start, end)` that have begun by `as_of` (at most
{MAX_COHORT_PERIODS}); for each cohort, cell k is period cohort + k, up to the last full or
current period before `end`.

- `customer_retention` = members active at the end of period cohort + k / cohort size x 100.
- `revenue_retention` = members' MRR at the end of period cohort + k / their MRR right after
  first activation x 100 (expansion can take it above 100).

A cell of the current period uses the state known at `as_of`.
{_COMMON}"""

_CANCELLATIONS = f"""Cancellations that took effect in `[start, end)`, by reason, most frequent
first: how many and the MRR they took away (the MRR just before each cancellation, so a
cancellation while paused loses 0). A customer who cancels twice counts twice.

Cancellation flows started in the range: `flows_started`, `saved` (not declined, and no churn
within the tenant's `keep_days` after the flow ended), `save_rate` over flows whose keep window
is over, and the `lift` of offers over the holdout with a 95% interval (percentage points).
`by_offer_kind` breaks them down by offer kind, reason and variant (treatment / holdout): flows,
accepted, kept, saved, save rate and lift over the holdout of the same kind and reason.
{_COMMON}"""

_SUMMARY = f"""The tenant now (or at `as_of`): customers by status from each customer's latest
change (leads: customers with no subscription yet), current MRR, and the last full calendar
month's churn figures with a benchmark flag: `healthy` under 5% monthly churn, `watch` from 5%
to 10%, `needs_attention` over 10%, null when no customer was active at the month's start.
{_COMMON}"""

_LTV = f"""Lifetime value over the whole calendar months (UTC) of `[start, end)` that have
ended by `as_of` (aligned as in `/v1/metrics/churn`; at most {MAX_VALUE_MONTHS}), from each
month's churn figures: customers active at its start, their MRR then, and how many were lost
by its end.

- `arpa` (average revenue per account per month) = sum of the months' MRR at start / sum of
  their customers at start (`mrr_months / customer_months`). Paused customers count with MRR 0.
- `monthly_churn_rate` = customers lost / customers at start, summed over the months, x 100
  (months with more customers weigh more).
- `ltv` = `arpa / (monthly_churn_rate / 100)` = `mrr_months / churned`, in minor units; null
  when no customer was lost in the window (the formula has no finite value).
- `cohorts`: realised revenue per monthly signup cohort (first activation) of the range: for N
  in 1, 3, 6, 12, the members' purchases (in `currency`) within N months of each member's first
  activation, in total and per member; null until the cohort is N months past its end.

`plan` keeps, each month, the customers on that plan at its start, and in cohorts the customers
whose first activation was on it.
{_COMMON}"""

_REPEAT = """Repeat purchasing among the customers who bought in `[start, end)` (purchase events
that occurred in the window and by `as_of`).

- A *purchase day* is a UTC date with at least one purchase of the customer: several
  purchases on one day count once.
- `buyers`: customers with a purchase day in the window; `repeat_buyers`: with two or more.
  `repeat_purchase_rate` = repeat_buyers / buyers x 100.
- `median_days_between_purchases`: the median of the gaps, in days, between consecutive
  purchase days of the same customer in the window, over all such gaps.
- `frequency`: buyers by number of purchase days in the window: 1, 2, 3, 4, 5+.

**Currency.** Only purchases in `currency` count (default: the currency the most customers
bought in during the window; ties alphabetically; `USD` when nobody bought). The others are
listed in `other_currencies`.

Dates (`2025-01-31`) mean UTC midnight; date-times need an offset. Percentages are returned at
full precision, null when their denominator is 0. Money is in minor units.
"""


@router.get(
    "/churn",
    response_model=ChurnSeriesRead,
    responses=responses(401, 403, 422),
    summary="Churn and revenue retention per period",
    description=_CHURN,
)
async def get_churn_series(
    query: Annotated[ChurnQuery, Query()], principal: Reader, session: Session
) -> ChurnSeriesRead:
    return await service.churn_series(session, principal.tenant_id, query)


@router.get(
    "/cohorts",
    response_model=CohortMatrixRead,
    responses=responses(401, 403, 422),
    summary="Retention by signup cohort",
    description=_COHORTS,
)
async def get_cohort_retention(
    query: Annotated[CohortQuery, Query()], principal: Reader, session: Session
) -> CohortMatrixRead:
    return await service.cohort_matrix(session, principal.tenant_id, query)


@router.get(
    "/cancellations",
    response_model=CancellationsRead,
    responses=responses(401, 403, 422),
    summary="Cancellations by reason, and cancellation-flow saves",
    description=_CANCELLATIONS,
)
async def get_cancellation_report(
    query: Annotated[CancellationsQuery, Query()], principal: Reader, session: Session
) -> CancellationsRead:
    return await service.cancellations(session, principal.tenant_id, query)


@router.get(
    "/summary",
    response_model=SummaryRead,
    responses=responses(401, 403, 422),
    summary="Customers by status, MRR and last month's churn",
    description=_SUMMARY,
)
async def get_metrics_summary(
    query: Annotated[SummaryQuery, Query()], principal: Reader, session: Session
) -> SummaryRead:
    return await service.summary(session, principal.tenant_id, query)


@router.get(
    "/ltv",
    response_model=LtvRead,
    responses=responses(401, 403, 422),
    summary="ARPA, monthly churn, lifetime value and realised revenue per signup cohort",
    description=_LTV,
)
async def get_lifetime_value(
    query: Annotated[LtvQuery, Query()], principal: Reader, session: Session
) -> LtvRead:
    return await service.lifetime_value(session, principal.tenant_id, query)


@router.get(
    "/repeat-purchases",
    response_model=RepeatPurchasesRead,
    responses=responses(401, 403, 422),
    summary="Repeat purchase rate, days between purchases, purchase frequency",
    description=_REPEAT,
)
async def get_repeat_purchases(
    query: Annotated[RepeatPurchasesQuery, Query()], principal: Reader, session: Session
) -> RepeatPurchasesRead:
    return await service.repeat_purchases(session, principal.tenant_id, query)
