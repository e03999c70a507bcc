"""Churn metrics: resolve the defaults, run the set-based queries, shape the answers.

The figures are read-only: nothing here writes to the request transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.health.queries import tier_distribution
from app.metrics import churn, queries, value_queries
from app.metrics.schemas import (
    CancellationsQuery,
    CancellationsRead,
    ChurnPeriod,
    ChurnQuery,
    ChurnSeriesRead,
    CohortCellRead,
    CohortMatrixRead,
    CohortQuery,
    CohortRead,
    CohortRevenueRead,
    CustomerCounts,
    FrequencyRead,
    HorizonRevenueRead,
    LiftPoints,
    LtvMonthRead,
    LtvQuery,
    LtvRead,
    OfferKindRead,
    ReasonRead,
    RepeatPurchasesQuery,
    RepeatPurchasesRead,
    SummaryQuery,
    SummaryRead,
    TierCounts,
)
from app.offers.report import flow_report
from app.offers.stats import Lift


def _now() -> datetime:
    return datetime.now(UTC)


def _period(counts: churn.PeriodCounts) -> ChurnPeriod:
    return ChurnPeriod(
        start=counts.start,
        end=counts.end,
        customers_at_start=counts.customers_at_start,
        customers_at_end=counts.customers_at_end,
        churned=counts.churned,
        churn_rate=counts.churn_rate,
        new=counts.new,
        reactivated=counts.reactivated,
        paused=counts.paused,
        mrr_at_start=counts.mrr_at_start,
        mrr_at_end=counts.mrr_at_end,
        mrr_new=counts.mrr_new,
        mrr_churned=counts.mrr_churned,
        mrr_contraction=counts.mrr_contraction,
        mrr_expansion=counts.mrr_expansion,
        revenue_churn_rate=counts.revenue_churn_rate,
        net_revenue_retention=counts.net_revenue_retention,
    )


async def churn_series(
    session: AsyncSession, tenant_id: uuid.UUID, query: ChurnQuery
) -> ChurnSeriesRead:
    as_of = query.as_of or _now()
    series = await queries.churn_series(
        session,
        tenant_id,
        start=query.start,
        end=query.end,
        granularity=query.granularity,
        as_of=as_of,
        plan=query.plan,
        currency=query.currency,
    )
    return ChurnSeriesRead(
        currency=series.currency,
        other_currencies=series.other_currencies,
        granularity=query.granularity,
        plan=query.plan,
        as_of=as_of,
        periods=[_period(p) for p in series.periods],
    )


async def cohort_matrix(
    session: AsyncSession, tenant_id: uuid.UUID, query: CohortQuery
) -> CohortMatrixRead:
    as_of = query.as_of or _now()
    matrix = await queries.cohort_matrix(
        session,
        tenant_id,
        start=query.start,
        end=query.end,
        granularity=query.granularity,
        as_of=as_of,
        currency=query.currency,
    )
    return CohortMatrixRead(
        currency=matrix.currency,
        other_currencies=matrix.other_currencies,
        granularity=query.granularity,
        as_of=as_of,
        cohorts=[
            CohortRead(
                start=row.start,
                end=row.end,
                customers=row.customers,
                starting_mrr=row.starting_mrr,
                periods=[
                    CohortCellRead(
                        index=cell.index,
                        start=cell.start,
                        end=cell.end,
                        active=cell.active,
                        customer_retention=row.customer_retention(cell),
                        mrr=cell.mrr,
                        revenue_retention=row.revenue_retention(cell),
                    )
                    for cell in row.cells
                ],
            )
            for row in matrix.cohorts
        ],
    )


async def cancellations(
    session: AsyncSession, tenant_id: uuid.UUID, query: CancellationsQuery
) -> CancellationsRead:
    as_of = query.as_of or _now()
    report = await queries.cancellation_report(
        session,
        tenant_id,
        start=query.start,
        end=query.end,
        as_of=as_of,
        currency=query.currency,
    )
    flows = await flow_report(session, tenant_id, query.start, query.end, now=as_of)
    return CancellationsRead(
        currency=report.currency,
        other_currencies=report.other_currencies,
        start=query.start,
        end=query.end,
        as_of=as_of,
        cancellations=report.cancellations,
        mrr_lost=report.mrr_lost,
        by_reason=[
            ReasonRead(reason=r.reason, cancellations=r.cancellations, mrr_lost=r.mrr_lost)
            for r in report.by_reason
        ],
        flows_started=flows.total.flows,
        saved=flows.total.saved,
        pending=flows.total.pending,
        save_rate=churn.percentage(flows.total.saved, flows.total.resolved),
        keep_days=flows.keep_days,
        lift=_points(flows.lift),
        by_offer_kind=[
            OfferKindRead(
                offer_kind=row.kind,
                reason=row.reason,
                variant=row.variant,
                flows=row.counts.flows,
                accepted=row.counts.accepted,
                kept=row.counts.kept,
                saved=row.counts.saved,
                pending=row.counts.pending,
                save_rate=churn.percentage(row.counts.saved, row.counts.resolved),
                lift=_points(row.lift),
            )
            for row in flows.rows
        ],
    )


def _points(lift: Lift | None) -> LiftPoints | None:
    if lift is None:
        return None
    return LiftPoints(
        difference=lift.difference * 100,
        ci_low=lift.low * 100,
        ci_high=lift.high * 100,
        significant=lift.significant,
    )


async def summary(session: AsyncSession, tenant_id: uuid.UUID, query: SummaryQuery) -> SummaryRead:
    as_of = query.as_of or _now()
    current = await queries.current_state(session, tenant_id, as_of=as_of, currency=query.currency)
    month = churn.last_full_month(as_of)
    series = await queries.churn_series(
        session,
        tenant_id,
        start=month.start,
        end=month.end,
        granularity="month",
        as_of=as_of,
        currency=current.state.currency,
    )
    last_month = series.periods[0]
    return SummaryRead(
        as_of=as_of,
        currency=current.state.currency,
        other_currencies=current.state.other_currencies,
        customers=CustomerCounts(
            lead=current.leads,
            active=current.state.active,
            paused=current.state.paused,
            cancelled=current.state.cancelled,
        ),
        mrr=current.state.mrr,
        last_month=_period(last_month),
        benchmark=churn.benchmark(last_month.churn_rate),
        health=TierCounts(**await tier_distribution(session, tenant_id)),
    )


async def lifetime_value(session: AsyncSession, tenant_id: uuid.UUID, query: LtvQuery) -> LtvRead:
    as_of = query.as_of or _now()
    figures = await value_queries.ltv(
        session,
        tenant_id,
        start=query.start,
        end=query.end,
        as_of=as_of,
        plan=query.plan,
        currency=query.currency,
    )
    # The cohorts are in the currency the figures chose, whatever the request said.
    table = await value_queries.cohort_revenue(
        session,
        tenant_id,
        start=query.start,
        end=query.end,
        as_of=as_of,
        plan=query.plan,
        currency=figures.currency,
    )
    return LtvRead(
        currency=figures.currency,
        other_currencies=figures.other_currencies,
        plan=query.plan,
        start=query.start,
        end=query.end,
        as_of=as_of,
        months=[
            LtvMonthRead(
                start=m.start,
                end=m.end,
                customers_at_start=m.customers_at_start,
                mrr_at_start=m.mrr_at_start,
                churned=m.churned,
                churn_rate=m.churn_rate,
            )
            for m in figures.months
        ],
        customer_months=figures.customer_months,
        mrr_months=figures.mrr_months,
        churned=figures.churned,
        arpa=figures.arpa,
        monthly_churn_rate=figures.monthly_churn_rate,
        ltv=figures.ltv,
        cohorts=[
            CohortRevenueRead(
                start=row.start,
                end=row.end,
                customers=row.customers,
                horizons=[
                    HorizonRevenueRead(
                        months=h.months,
                        revenue=h.revenue,
                        revenue_per_customer=row.per_customer(h),
                    )
                    for h in row.horizons
                ],
            )
            for row in table.cohorts
        ],
    )


async def repeat_purchases(
    session: AsyncSession, tenant_id: uuid.UUID, query: RepeatPurchasesQuery
) -> RepeatPurchasesRead:
    as_of = query.as_of or _now()
    figures = await value_queries.repeat_purchases(
        session, tenant_id, start=query.start, end=query.end, as_of=as_of, currency=query.currency
    )
    return RepeatPurchasesRead(
        currency=figures.currency,
        other_currencies=figures.other_currencies,
        start=query.start,
        end=query.end,
        as_of=as_of,
        purchases=figures.purchases,
        revenue=figures.revenue,
        buyers=figures.buyers,
        repeat_buyers=figures.repeat_buyers,
        repeat_purchase_rate=figures.repeat_purchase_rate,
        median_days_between_purchases=figures.median_interval_days,
        frequency=[
            FrequencyRead(
                purchase_days=bucket,
                customers=customers,
                share=churn.percentage(customers, figures.buyers),
            )
            for bucket, customers in figures.frequency.items()
        ],
    )
