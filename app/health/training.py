"""Training examples from a tenant's own history, and the out-of-time selection.

Cutoffs every ``cutoff_step_days`` over ``history_days``, the latest one a horizon before
``labels_until`` so every label is known by then. At each cutoff c the examples are the
customers known before c who are

* subscribers (active or paused at c): churned = not active or paused at c + horizon;
* buyers without a subscription (when ``buyers_churn_without_purchase``), with a purchase in
  the year before c: churned = no purchase in [c, c + horizon).

Every churner is kept; stayers are sampled down to a per-cutoff budget and weighted back
(weight = 1 / sampling rate). Features come from the shared builder as of c (only events
before c). The latest cutoffs (a quarter of them, at least one) are the validation window;
training cutoffs end a horizon before it, so no training label overlaps it. The model fitted on
the training cutoffs is judged there against the expert model; the model stored is then fitted
the same way on the training and validation cutoffs together (every label known by
``labels_until``), and used only when the judged one won.
"""

from __future__ import annotations

import math
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.customers import repository as customers
from app.health import learned, repository
from app.health.features import Array, Features, build_features, design_matrix
from app.health.inputs import Lifecycle, day_start, load_histories, yardsticks
from app.health.learned import LearnedModel
from app.health.model import expert_scores
from app.health.settings import HealthSettings

STAYERS_PER_CUTOFF = 1500
BUYER_LOOKBACK_DAYS = 365
SUBSCRIBED = ("active", "paused")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _t(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds() / 86_400


@dataclass
class _Timeline:
    """Per-customer time-ordered records as flat arrays: ``owner`` (row in ``ids``) and time
    ``t`` (days since EPOCH), sorted by (owner, t)."""

    owner: np.ndarray
    t: np.ndarray
    key: np.ndarray

    @classmethod
    def of(cls, owner: Sequence[int], t: Sequence[float]) -> _Timeline:
        o = np.asarray(owner, dtype=np.int64)
        tt = np.asarray(t, dtype=np.float64)
        order = np.lexsort((tt, o))
        o, tt = o[order], tt[order]
        return cls(o, tt, o * 1e6 + tt)

    def last_before(self, rows: np.ndarray, at: float) -> np.ndarray:
        """Index of each row's latest record strictly before ``at`` (-1: none)."""
        if self.owner.size == 0:
            return np.full(rows.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.key, rows * 1e6 + at, side="left") - 1
        ok = (pos >= 0) & (self.owner[np.maximum(pos, 0)] == rows)
        return np.where(ok, pos, -1)

    def count_before(self, rows: np.ndarray, at: float) -> np.ndarray:
        start = np.searchsorted(self.key, rows * 1e6, side="left")
        end = np.searchsorted(self.key, rows * 1e6 + at, side="left")
        return end - start


@dataclass
class History:
    """A tenant's history, read once for all cutoffs."""

    ids: list[str]
    first_seen: np.ndarray
    status: _Timeline
    status_code: np.ndarray  # aligned with status order: 1 active, 2 paused, 3 cancelled, 0 other
    status_mrr: np.ndarray
    first_active: np.ndarray
    purchases: _Timeline
    cancellations: list[tuple[int, float, float]]
    feedback: _Timeline
    feedback_nps: np.ndarray
    first_seen_at: list[datetime]


_CODES = {"active": 1, "paused": 2, "cancelled": 3}


async def read_history(session: AsyncSession, tenant_id: uuid.UUID, until: datetime) -> History:
    seen = [r for r in await customers.first_seen_times(session, tenant_id)]
    ids = [r["customer_id"] for r in seen]
    row = {cid: i for i, cid in enumerate(ids)}
    changes = [
        r
        for r in await repository.status_history(session, tenant_id, until)
        if r["customer_id"] in row
    ]
    status = _Timeline.of(
        [row[r["customer_id"]] for r in changes], [_t(r["effective_at"]) for r in changes]
    )
    order = (
        np.lexsort(
            (
                np.asarray([_t(r["effective_at"]) for r in changes], dtype=np.float64),
                np.asarray([row[r["customer_id"]] for r in changes], dtype=np.int64),
            )
        )
        if changes
        else np.zeros(0, dtype=np.int64)
    )
    codes = np.asarray([_CODES.get(changes[k]["status"], 0) for k in order], dtype=np.int8)
    mrr = np.asarray([float(changes[k]["mrr"] or 0) for k in order])
    first_active = np.full(len(ids), np.nan)
    for r in changes:
        if r["status"] == "active":
            i = row[r["customer_id"]]
            t = _t(r["effective_at"])
            if math.isnan(first_active[i]) or t < first_active[i]:
                first_active[i] = t
    bought = [
        r
        for r in await repository.event_times(session, tenant_id, "purchase", until)
        if r["customer_id"] in row
    ]
    purchases = _Timeline.of(
        [row[r["customer_id"]] for r in bought], [_t(r["occurred_at"]) for r in bought]
    )
    cancellations = [
        (row[r["customer_id"]], _t(r["occurred_at"]), _t(r["effective_at"] or r["occurred_at"]))
        for r in await repository.event_times(session, tenant_id, "cancellation", until)
        if r["customer_id"] in row
    ]
    said = [
        r
        for r in await repository.event_times(session, tenant_id, "feedback", until)
        if r["customer_id"] in row and r["nps"] is not None
    ]
    feedback = _Timeline.of(
        [row[r["customer_id"]] for r in said], [_t(r["occurred_at"]) for r in said]
    )
    said_order = (
        np.lexsort(
            (
                np.asarray([_t(r["occurred_at"]) for r in said], dtype=np.float64),
                np.asarray([row[r["customer_id"]] for r in said], dtype=np.int64),
            )
        )
        if said
        else np.zeros(0, dtype=np.int64)
    )
    nps = np.asarray([float(said[k]["nps"]) for k in said_order])
    return History(
        ids=ids,
        first_seen=np.asarray([_t(r["first_seen_at"]) for r in seen]),
        status=status,
        status_code=codes,
        status_mrr=mrr,
        first_active=first_active,
        purchases=purchases,
        cancellations=cancellations,
        feedback=feedback,
        feedback_nps=nps,
        first_seen_at=[r["first_seen_at"] for r in seen],
    )


def _status_codes(history: History, rows: np.ndarray, t: float) -> np.ndarray:
    """Each row's status code at ``t`` (0: no status yet)."""
    if history.status_code.size == 0:
        return np.zeros(rows.shape, dtype=np.int8)
    pos = history.status.last_before(rows, t)
    return np.where(pos >= 0, history.status_code[np.maximum(pos, 0)], 0)


def population(
    history: History, at: datetime, horizon_days: int, settings: HealthSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, churned, subscribed) of the customers that are examples at cutoff ``at``."""
    t = _t(at)
    n = len(history.ids)
    rows = np.arange(n)
    known = history.first_seen < t
    code_now = _status_codes(history, rows, t)
    code_later = _status_codes(history, rows, t + horizon_days)
    subscriber = known & np.isin(code_now, (1, 2))
    churned = np.zeros(n, dtype=bool)
    churned[subscriber] = ~np.isin(code_later[subscriber], (1, 2))
    members = subscriber.copy()
    if settings.learning.buyers_churn_without_purchase:
        before = history.purchases.count_before(rows, t)
        recent = before - history.purchases.count_before(rows, t - BUYER_LOOKBACK_DAYS)
        buyer = known & (code_now == 0) & (recent > 0)
        bought_after = history.purchases.count_before(rows, t + horizon_days) - before
        churned[buyer] = bought_after[buyer] == 0
        members |= buyer
    idx = np.flatnonzero(members)
    return idx, churned[idx], subscriber[idx]


def lifecycles(history: History, rows: np.ndarray, at: datetime) -> dict[str, Lifecycle]:
    t = _t(at)
    pos = history.status.last_before(rows, t)
    pending: dict[int, float] = {}
    for owner, occurred, effective in history.cancellations:
        if occurred < t < effective:
            pending[owner] = effective
    nps_pos = history.feedback.last_before(rows, t)
    out = {}
    for k, i in enumerate(rows.tolist()):
        p = int(pos[k])
        code = int(history.status_code[p]) if p >= 0 else 0
        status = {1: "active", 2: "paused", 3: "cancelled"}.get(code, "lead")
        q = int(nps_pos[k])
        prev = q - 1 if q > 0 and history.feedback.owner[q - 1] == i else -1
        first_active = history.first_active[i]
        out[history.ids[i]] = Lifecycle(
            status=status,
            first_seen_at=history.first_seen_at[i],
            subscribed_at=(
                EPOCH + timedelta(days=float(first_active))
                if status != "lead" and not math.isnan(first_active) and first_active < t
                else None
            ),
            plan_mrr=int(history.status_mrr[p]) if p >= 0 else 0,
            paused_until=None,
            cancel_effective_at=(
                EPOCH + timedelta(days=pending[i])
                if i in pending and status in SUBSCRIBED
                else None
            ),
            nps_latest=int(history.feedback_nps[q]) if q >= 0 else None,
            nps_previous=int(history.feedback_nps[prev]) if prev >= 0 else None,
            nps_at=EPOCH + timedelta(days=float(history.feedback.t[q])) if q >= 0 else None,
            last_usage_at=None,
        )
    return out


@dataclass
class Examples:
    features: list[Features]
    x: Array
    y: Array
    weight: Array
    cutoff: Array  # index of the example's cutoff
    expert: Array  # expert score of each example (NaN: unscored)


async def examples(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    history: History,
    cutoffs: Sequence[datetime],
    settings: HealthSettings,
    top_features: Sequence[str],
    *,
    stayers_per_cutoff: int | None = STAYERS_PER_CUTOFF,
) -> Examples:
    xs, ys, ws, cs, es, fs = [], [], [], [], [], []
    for k, at in enumerate(cutoffs):
        rows, churned, _ = population(history, at, settings.learning.horizon_days, settings)
        if rows.size == 0:
            continue
        weight = np.ones(rows.size)
        stayers = np.flatnonzero(~churned)
        if stayers_per_cutoff is not None and stayers.size > stayers_per_cutoff:
            # A stable pseudo-random draw per (customer, cutoff): retraining sees the same one.
            salt = int(at.timestamp())
            draws = np.asarray(
                [zlib.crc32(f"{history.ids[i]}:{salt}".encode()) for i in rows[stayers]]
            )
            keep = stayers[np.argsort(draws)[:stayers_per_cutoff]]
            chosen = np.sort(np.concatenate([np.flatnonzero(churned), keep]))
            weight = np.where(churned, 1.0, stayers.size / stayers_per_cutoff)[chosen]
            rows, churned = rows[chosen], churned[chosen]
        lives = lifecycles(history, rows, at)
        marks = await yardsticks(session, tenant_id, at)
        h = await load_histories(
            session, tenant_id, at, lives, settings, features=top_features, marks=marks
        )
        # load_histories orders by customer id; realign the labels.
        by_id = {
            history.ids[i]: (c, w) for i, c, w in zip(rows.tolist(), churned, weight, strict=True)
        }
        f = build_features(h)
        xs.append(design_matrix(f))
        ys.append(np.asarray([by_id[cid][0] for cid in h.customer_ids], dtype=np.float64))
        ws.append(np.asarray([by_id[cid][1] for cid in h.customer_ids], dtype=np.float64))
        cs.append(np.full(h.n, k))
        es.append(expert_scores(f, settings).score)
        fs.append(f)
    if not xs:
        empty = np.zeros(0)
        return Examples([], np.zeros((0, 0)), empty, empty, empty, empty)
    return Examples(
        fs,
        np.concatenate(xs),
        np.concatenate(ys),
        np.concatenate(ws),
        np.concatenate(cs),
        np.concatenate(es),
    )


def cutoffs_for(
    labels_until: datetime, settings: HealthSettings, first_seen: datetime
) -> list[datetime]:
    """Cutoffs (ascending) whose labels are all known by ``labels_until``, at UTC midnight."""
    learning = settings.learning
    last = day_start(labels_until - timedelta(days=learning.horizon_days))
    out = []
    at = last
    while at >= labels_until - timedelta(days=learning.history_days) and at > first_seen:
        out.append(at)
        at -= timedelta(days=learning.cutoff_step_days)
    return sorted(out)


def choose_c(
    fit_set: Examples, train_cutoffs: Sequence[datetime], horizon_days: int
) -> tuple[float, str]:
    """The regularisation strength from ``learned.C_GRID`` whose model, fitted on the earlier
    training cutoffs, ranks the latest quarter of them best (the same out-of-time split as the
    validation window, inside the training window: the validation window is not looked at).
    ``learned.C`` when the training window is too short to split."""
    inner = max(1, len(train_cutoffs) // 4)
    first_inner = train_cutoffs[-inner]
    early = [
        k for k, c in enumerate(train_cutoffs) if c <= first_inner - timedelta(days=horizon_days)
    ]
    late = (fit_set.cutoff >= len(train_cutoffs) - inner) & (fit_set.cutoff < len(train_cutoffs))
    before = np.isin(fit_set.cutoff, early)
    y_fit, y_check = fit_set.y[before], fit_set.y[late]
    if len(early) < 2 or np.unique(y_fit).size < 2 or np.unique(y_check).size < 2:
        return learned.C, f"C = {learned.C:g}: too few training cutoffs to choose"
    best, best_auc = learned.C, -1.0
    for c in learned.C_GRID:
        model = learned.fit(fit_set.x[before], y_fit, fit_set.weight[before], top_features=(), c=c)
        found = learned.auc(y_check, learned.churn_probability(model, fit_set.x[late]))
        if found is not None and found > best_auc + 1e-4:
            best, best_auc = c, found
    return best, f"C = {best:g} chosen on the training cutoffs"


@dataclass
class Trained:
    model: LearnedModel | None
    labels_until: datetime
    train_from: datetime | None
    train_to: datetime | None
    validation_from: datetime | None
    validation_to: datetime | None
    examples: int
    positives: int
    validation_examples: int
    validation_positives: int
    auc_learned: float | None
    auc_expert: float | None
    active: bool
    reason: str


async def train(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    labels_until: datetime,
    settings: HealthSettings,
    *,
    stayers_per_cutoff: int | None = STAYERS_PER_CUTOFF,
) -> Trained:
    """Fit a model on the tenant's history with every label known by ``labels_until`` and
    judge it against the expert model on the latest cutoffs."""
    learning = settings.learning
    history = await read_history(session, tenant_id, labels_until)
    nothing = Trained(None, labels_until, None, None, None, None, 0, 0, 0, 0, None, None, False, "")
    if not history.ids:
        nothing.reason = "no customers yet"
        return nothing
    first = min(history.first_seen_at)
    cutoffs = cutoffs_for(labels_until, settings, first)
    validation_count = max(1, len(cutoffs) // 4)
    validation = cutoffs[-validation_count:]
    train_cutoffs = [
        c for c in cutoffs if c <= validation[0] - timedelta(days=learning.horizon_days)
    ]
    if len(train_cutoffs) < 2:
        nothing.reason = (
            f"not enough history: {len(cutoffs)} labelled cutoffs, the model needs training "
            "cutoffs a horizon before the validation window"
        )
        return nothing
    top = await repository.top_features(
        session, tenant_id, labels_until - timedelta(days=28), labels_until, 3
    )
    fit_set = await examples(
        session,
        tenant_id,
        history,
        train_cutoffs,
        settings,
        top,
        stayers_per_cutoff=stayers_per_cutoff,
    )
    check = await examples(
        session,
        tenant_id,
        history,
        validation,
        settings,
        top,
        stayers_per_cutoff=stayers_per_cutoff,
    )
    result = Trained(
        None,
        labels_until,
        train_cutoffs[0],
        train_cutoffs[-1],
        validation[0],
        validation[-1],
        int(fit_set.y.size),
        int(fit_set.y.sum()),
        int(check.y.size),
        int(check.y.sum()),
        None,
        None,
        False,
        "",
    )
    if fit_set.y.size == 0 or fit_set.y.min() == fit_set.y.max():
        result.reason = "the training window has no churner or no stayer"
        return result
    c, c_reason = choose_c(fit_set, train_cutoffs, learning.horizon_days)
    model = learned.fit(fit_set.x, fit_set.y, fit_set.weight, top_features=top, c=c)
    if check.y.size:
        scores = learned.scores_of(model, check.x)
        result.auc_learned = learned.auc(check.y, -scores)
        result.auc_expert = learned.auc(check.y, -np.nan_to_num(check.expert, nan=50.0))
        if check.y.min() != check.y.max():
            # The out-of-time comparison judged the procedure; the model kept is fitted the
            # same way on every labelled cutoff (the validation window's labels are known by
            # labels_until too), so the latest behaviour is not left out of it.
            model = learned.fit(
                np.concatenate([fit_set.x, check.x]),
                np.concatenate([fit_set.y, check.y]),
                np.concatenate([fit_set.weight, check.weight]),
                top_features=top,
                c=c,
            )
        model = learned.with_tiers(model, learned.scores_of(model, check.x), check.weight)
    result.model = model
    churners = int(check.y.sum())
    if churners < learning.min_churners:
        result.reason = (
            f"expert model kept: {churners} churners in the validation window, "
            f"{learning.min_churners} needed"
        )
    elif result.auc_learned is None or result.auc_expert is None:
        result.reason = "expert model kept: the validation window cannot be judged"
    elif result.auc_learned <= result.auc_expert:
        result.reason = (
            f"expert model kept: out-of-time AUC {result.auc_learned:.3f} (learned) vs "
            f"{result.auc_expert:.3f} (expert)"
        )
    else:
        result.active = True
        result.reason = (
            f"learned model: out-of-time AUC {result.auc_learned:.3f} vs "
            f"{result.auc_expert:.3f} for the expert model ({c_reason})"
        )
    return result
