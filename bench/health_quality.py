"""How well the health score predicts churn on public data we did not write (run by hand).

    python -m bench.health_quality [--dataset cdnow|fightchurn|all] [--database-url URL]

Needs ``pip install lifetimes`` (CDNOW, BG/NBD) in this environment, and the churn simulation of
"Fighting Churn With Data" (``pip install fightchurn``, generated at run time by
bench/fightchurn_sim.py) in a separate one given by ``--fightchurn-python``: fightchurn pins
SQLAlchemy 1.x.

Each dataset is replayed through the HTTP API (the ASGI app in process, a scratch database)
into a fresh tenant; then, at several ``as_of`` dates, every customer in the population is
scored with ``POST /v1/health/lookup`` (``as_of``: events before it only, and a learned model
trained on outcomes known by then) and the script prints the AUC of ``100 - score`` next to
baselines it computes itself on the same customers:

* ``-count28``: minus the customer's events over the 28 days before ``as_of``;
* ``logit-cv``: a 5-fold cross-validated logistic regression on simple features (28-day counts
  per event type plus tenure; for CDNOW: purchases, days since the last, spend, tenure);
* ``bg/nbd`` (CDNOW): the expected purchases of a BG/NBD model fitted on the purchases before
  ``as_of`` (lifetimes), an established model for this data.

Labels: CDNOW "does not buy again in the next 9 months" (the dataset ends 1998-06-30);
fightchurn "not subscribed 30 days later" (subscribers at ``as_of``, the first of each month
from 2023-10-01 to 2024-06-01, then every (customer, as_of) pair of those dates pooled in one
row: a single date has only a few dozen churners). Usage reaches the API as one event per
customer, day and event type with the day's count as ``quantity``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GroupKFold, cross_val_predict  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import Database, session_factory  # noqa: E402
from app.main import create_app  # noqa: E402
from app.onboarding import create_tenant  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

BATCH = 1000


def auc(labels: Sequence[bool], risk: Sequence[float]) -> float:
    if len(set(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(np.asarray(labels, dtype=int), np.asarray(risk, dtype=float)))


def cv_logit(x: np.ndarray, y: Sequence[bool], groups: Sequence[str] | None = None) -> float:
    """AUC of a 5-fold cross-validated logistic regression on log1p(x); ``groups`` (customer
    ids) keeps every example of a customer in one fold."""
    model = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")
    )
    labels = np.asarray(y, dtype=int)
    if min(labels.sum(), labels.size - labels.sum()) < 5:
        return float("nan")  # too few churners (or stayers) for 5 folds
    predicted = cross_val_predict(
        model,
        np.log1p(np.maximum(x, 0)),
        labels,
        groups=groups,
        cv=GroupKFold(5) if groups is not None else 5,
        method="predict_proba",
    )
    return auc(y, predicted[:, 1])


async def new_tenant(database: Database, name: str) -> dict[str, str]:
    async with session_factory(database.engine)() as session, session.begin():
        _, key = await create_tenant(session, name)
    return {"Authorization": f"Bearer {key.plaintext}"}


async def replay(
    client: httpx.AsyncClient, headers: dict[str, str], events: list[dict[str, Any]]
) -> None:
    events.sort(key=lambda e: e["occurred_at"])
    for i in range(0, len(events), BATCH):
        response = await client.post(
            "/v1/events/batch", json={"events": events[i : i + BATCH]}, headers=headers
        )
        response.raise_for_status()
        body = response.json()
        if body.get("rejected"):
            raise SystemExit(f"rejected events: {body}")


async def scores(
    client: httpx.AsyncClient, headers: dict[str, str], ids: Sequence[str], as_of: datetime
) -> tuple[dict[str, float], dict[str, Any]]:
    out: dict[str, float] = {}
    model: dict[str, Any] = {}
    for i in range(0, len(ids), BATCH):
        response = await client.post(
            "/v1/health/lookup",
            json={"customer_ids": list(ids[i : i + BATCH]), "as_of": as_of.isoformat()},
            headers=headers,
            timeout=3600,
        )
        response.raise_for_status()
        for r in response.json()["results"]:
            out[r["customer_id"]] = r["score"] if r["score"] is not None else 50.0
            model = r["model"]
    return out, model


def row(
    name: str, as_of: str, n: int, churn: float, values: dict[str, float], model: dict[str, Any]
) -> str:
    cells = "  ".join(f"{k} {v:.3f}" for k, v in values.items())
    kind = f"  [{model.get('kind')} v{model.get('version')}]" if model else ""
    return f"{name:10s} {as_of:10s}  n={n:6d}  churn={churn * 100:5.1f}%  {cells}{kind}"


# -- CDNOW --------------------------------------------------------------------------------------


def cdnow() -> dict[str, list[tuple[date, int]]]:
    from lifetimes import datasets

    path = Path(datasets.__file__).parent / "CDNOW_master.txt"
    purchases: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for line in path.read_text().splitlines()[1:]:
        customer, day, _, dollars = line.split()
        when = datetime.strptime(day, "%Y%m%d").date()
        purchases[f"c{customer}"].append((when, round(float(dollars) * 100)))
    return purchases


async def run_cdnow(client: httpx.AsyncClient, database: Database) -> list[str]:
    from lifetimes import BetaGeoFitter

    headers = await new_tenant(database, "cdnow")
    purchases = cdnow()
    events = [
        {
            "type": "purchase",
            "idempotency_key": f"{cid}-{k}",
            "customer_id": cid,
            "occurred_at": datetime.combine(day, datetime.min.time(), UTC)
            .replace(hour=12)
            .isoformat(),
            "amount": max(amount, 1),
            "currency": "USD",
        }
        for cid, items in purchases.items()
        for k, (day, amount) in enumerate(items)
    ]
    started = time.perf_counter()
    await replay(client, headers, events)
    print(
        f"cdnow: replayed {len(events)} purchases of {len(purchases)} customers in "
        f"{time.perf_counter() - started:.0f} s"
    )
    end = date(1998, 6, 30)
    lines = []
    for as_of_day in (date(1997, 6, 30), date(1997, 8, 15), date(1997, 9, 30)):
        as_of = datetime.combine(as_of_day, datetime.min.time(), UTC)
        horizon_end = as_of_day + timedelta(days=273)
        assert horizon_end <= end
        ids = sorted(cid for cid, items in purchases.items() if items[0][0] < as_of_day)
        label = [not any(as_of_day <= d < horizon_end for d, _ in purchases[cid]) for cid in ids]
        got, model = await scores(client, headers, ids, as_of)
        score_risk = [100 - got[cid] for cid in ids]
        count28 = [
            -sum(1 for d, _ in purchases[cid] if as_of_day - timedelta(days=28) <= d < as_of_day)
            for cid in ids
        ]
        feats, bgf_rows = [], []
        for cid in ids:
            before = [(d, a) for d, a in purchases[cid] if d < as_of_day]
            days = sorted({d for d, _ in before})
            first, last = days[0], days[-1]
            feats.append(
                [
                    len(days),
                    (as_of_day - last).days,
                    sum(a for _, a in before),
                    (as_of_day - first).days,
                ]
            )
            bgf_rows.append((len(days) - 1, (last - first).days, (as_of_day - first).days))
        x = np.asarray(feats, dtype=float)
        freq, rec, age = (np.asarray(c, dtype=float) for c in zip(*bgf_rows, strict=True))
        bgf = BetaGeoFitter(penalizer_coef=0.001)
        bgf.fit(freq, rec, age)
        expected = bgf.conditional_expected_number_of_purchases_up_to_time(273, freq, rec, age)
        values = {
            "score": auc(label, score_risk),
            "-count28": auc(label, count28),
            "logit-cv": cv_logit(x, label),
            "bg/nbd": auc(label, -np.asarray(expected)),
        }
        lines.append(row("cdnow", str(as_of_day), len(ids), float(np.mean(label)), values, model))
        print(lines[-1], f"\n    {model.get('reason')}", flush=True)
    return lines


# -- fightchurn ---------------------------------------------------------------------------------

# The first of every month from the ninth of the simulation (2023-01-01 to 2024-07-01) to the
# last whose 30-day label is known: crm5 churns about 2% of its subscribers a month, so one
# date has a few dozen churners; the pooled row reads them all.
FIGHTCHURN_AS_OF = tuple(date(2023 + (m - 1) // 12, (m - 1) % 12 + 1, 1) for m in range(10, 19))


def fightchurn_data(python: str, customers: int, seed: int) -> dict[str, Any]:
    """Run bench/fightchurn_sim.py with ``python`` (an environment with fightchurn) and read
    its JSON."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hf-fc-") as tmp:
        out = Path(tmp) / "sim.json"
        subprocess.run(
            [
                python,
                "-P",
                str(ROOT / "bench" / "fightchurn_sim.py"),
                str(out),
                "--customers",
                str(customers),
                "--seed",
                str(seed),
            ],
            check=True,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
        )
        data: dict[str, Any] = json.loads(out.read_text())
    return data


async def run_fightchurn(
    client: httpx.AsyncClient,
    database: Database,
    python: str,
    customers: int,
    saved: str | None = None,
) -> list[str]:
    import json

    headers = await new_tenant(database, "fightchurn")
    started = time.perf_counter()
    data = json.loads(Path(saved).read_text()) if saved else fightchurn_data(python, customers, 11)
    end = date.fromisoformat(data["end"])
    sim = data["customers"]
    print(f"fightchurn: simulated {len(sim)} customers in {time.perf_counter() - started:.0f} s")
    payload: list[dict[str, Any]] = []
    spans: dict[str, tuple[date, date | None]] = {}
    usage: dict[str, list[tuple[date, str, int]]] = {}
    for cid, c in sim.items():
        name = f"a{int(cid):06d}"
        items = [
            (date.fromisoformat(s), date.fromisoformat(e) if e else None, m)
            for s, e, m in c["subscriptions"]
        ]
        if not items:
            continue
        starts = sorted({s for s, _, _ in items})
        ends = [e for _, e, _ in items]
        open_ended = any(e is None or e >= end for e in ends)
        last_end = None if open_ended else max(e for e in ends if e is not None)
        spans[name] = (starts[0], last_end)
        for k, st in enumerate(starts):
            mrr = max(1, round(sum(m for s, _, m in items if s == st) * 100))
            payload.append(
                {
                    "type": "purchase",
                    "idempotency_key": f"{name}-s{k}",
                    "customer_id": name,
                    "occurred_at": _at(st),
                    "amount": mrr,
                    "currency": "USD",
                    "plan": "crm",
                    "mrr": mrr,
                }
            )
        if last_end is not None:
            payload.append(
                {
                    "type": "cancellation",
                    "idempotency_key": f"{name}-end",
                    "customer_id": name,
                    "occurred_at": _at(last_end),
                }
            )
        usage[name] = [(date.fromisoformat(d), kind, n) for d, kind, n in c["usage"]]
        for d, kind, n in usage[name]:
            payload.append(
                {
                    "type": "usage",
                    "idempotency_key": f"{name}-{d}-{kind}",
                    "customer_id": name,
                    "occurred_at": _at(d, hour=12),
                    "feature": kind,
                    "quantity": n,
                }
            )
    started = time.perf_counter()
    await replay(client, headers, payload)
    print(f"fightchurn: replayed {len(payload)} events in {time.perf_counter() - started:.0f} s")
    kinds = sorted({k for rows in usage.values() for _, k, _ in rows})
    lines = []
    pooled: dict[str, list[Any]] = defaultdict(list)
    for as_of_day in FIGHTCHURN_AS_OF:
        started = time.perf_counter()
        as_of = datetime.combine(as_of_day, datetime.min.time(), UTC)
        assert as_of_day + timedelta(days=30) <= end
        ids = sorted(
            n for n, (s, e) in spans.items() if s < as_of_day and (e is None or e > as_of_day)
        )
        label = [
            spans[n][1] is not None and spans[n][1] <= as_of_day + timedelta(days=30) for n in ids
        ]
        got, model = await scores(client, headers, ids, as_of)
        counts = []
        for n in ids:
            recent: dict[str, int] = defaultdict(int)
            for d, kind, k in usage.get(n, []):
                if as_of_day - timedelta(days=28) <= d < as_of_day:
                    recent[kind] += k
            counts.append([recent[k] for k in kinds] + [(as_of_day - spans[n][0]).days])
        x = np.asarray(counts, dtype=float)
        risk = [100 - got[n] for n in ids]
        values = {
            "score": auc(label, risk),
            "-count28": auc(label, -x[:, :-1].sum(axis=1)),
            "logit-cv": cv_logit(x, label),
        }
        lines.append(
            row("fightchurn", str(as_of_day), len(ids), float(np.mean(label)), values, model)
            + f"  {time.perf_counter() - started:.0f} s"
        )
        print(lines[-1], f"\n    {model.get('reason')}", flush=True)
        pooled["auc"].append(values)
        pooled["label"] += label
        pooled["risk"] += risk
        pooled["x"].append(x)
        pooled["customer"] += ids
        pooled["churners"].append(sum(label))
        pooled["n"].append(len(label))
    # Every (customer, as_of) pair above as one example: a customer present at several dates is
    # several examples, and the cross-validated baseline keeps each customer in one fold.
    x = np.concatenate(pooled["x"])
    values = {
        "score": auc(pooled["label"], pooled["risk"]),
        "-count28": auc(pooled["label"], -x[:, :-1].sum(axis=1)),
        "logit-cv": cv_logit(x, pooled["label"], groups=pooled["customer"]),
    }
    n, churn = len(pooled["label"]), float(np.mean(pooled["label"]))
    lines.append(
        row("fightchurn", "pooled", n, churn, values, {})
        + f"  ({sum(pooled['churners'])} churners, {len(set(pooled['customer']))} customers)"
    )
    print(lines[-1], flush=True)
    # Pooled within dates: the chance that a churner is ranked riskier than a stayer of the same
    # date (each date's AUC weighted by its churner x stayer pairs), as a user reads the scores
    # of one day. The pooled row above also compares customers of different dates, scored by
    # different models whose scales differ.
    pairs = np.asarray([c * (m - c) for c, m in zip(pooled["churners"], pooled["n"], strict=True)])
    within = {k: float(np.average([v[k] for v in pooled["auc"]], weights=pairs)) for k in values}
    lines.append(row("fightchurn", "by date", n, churn, within, {}) + "  (pairs within a date)")
    print(lines[-1], flush=True)
    return lines


def _at(day: date, hour: int = 0) -> str:
    return datetime.combine(day, datetime.min.time(), UTC).replace(hour=hour).isoformat()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["cdnow", "fightchurn", "all"], default="all")
    parser.add_argument("--customers", type=int, default=1500, help="fightchurn initial customers")
    parser.add_argument(
        "--fightchurn-json", help="reuse a simulation written by bench/fightchurn_sim.py"
    )
    parser.add_argument(
        "--fightchurn-python",
        default=sys.executable,
        help="a Python with fightchurn installed (its pins clash with ours: a separate venv)",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    settings = Settings(db_statement_timeout_ms=3_600_000)
    async with scratch_database(args.database_url, settings) as url:
        database = Database.from_url(url, settings)
        app = create_app(settings, database)
        lines: list[str] = []
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://holdfast", timeout=3600
                ) as client,
            ):
                if args.dataset in ("cdnow", "all"):
                    lines += await run_cdnow(client, database)
                if args.dataset in ("fightchurn", "all"):
                    lines += await run_fightchurn(
                        client,
                        database,
                        args.fightchurn_python,
                        args.customers,
                        args.fightchurn_json,
                    )
        finally:
            await database.dispose()
        print("\n".join(["", "AUC for churn (higher is better):", *lines]))


if __name__ == "__main__":
    asyncio.run(main())
