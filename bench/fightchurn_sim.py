"""Run the churn simulation of "Fighting Churn With Data" (PyPI ``fightchurn``, model crm5) in
memory and write subscriptions and daily event counts as JSON (used by bench/health_quality).

    python bench/fightchurn_sim.py OUT.json [--customers 400] [--seed 11]

Only the simulation's database writes are replaced (the simulated customers are collected);
its behaviour, utility and churn models run unchanged. Events are kept as daily counts per
behaviour instead of one timestamped tuple per event (:func:`daily_generate_events`, the same
draws per day and behaviour): the per-event tuples made 1,000 customers take most of an hour.
It imports nothing from Holdfast, so it can run in a separate environment when fightchurn's
pins clash with ours.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from collections import Counter
from datetime import timedelta
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np


def daily_generate_events(self: Any, start_date: Any, end_date: Any) -> Any:
    """fightchurn's ``Customer.generate_events`` (churnsim/customer.py) with the per-event
    loop folded into one draw per day and behaviour: the day-of-week multiplier, the users of
    the day, the Poisson count, the plan limits and the event values (lognormal around the
    behaviour's mean value, summed into ``event_counts``) are drawn as there; only the event's
    time of day and user, which nothing downstream reads, are not. ``events`` holds
    ``(day, behaviour index, count)``."""
    from fightchurn.churnsim.customer import Customer

    days = (end_date - start_date).days
    if self.event_counts is None:
        self.reset_event_counts()
    rates = [
        (index, row["daily_rate"], row["behavior"], row["mean_value"])
        for index, row in self.behavior_rates.iterrows()
    ]
    limit_counts = {b: 0 for b in self.limits}
    for i in range(days):
        the_date = start_date + timedelta(days=i)
        dow_multiplier = Customer.get_day_multiplier(the_date, self.args)
        if self.users is None:
            todays_users = 1
        else:
            todays_users = round(float(dow_multiplier * np.random.poisson(self.users)))
            if "users" in self.limits:
                todays_users = min(todays_users, self.limits["users"])
        for index, rate, behavior_name, mean_value in rates:
            new_count = round(float(dow_multiplier * np.random.poisson(rate) * todays_users))
            if behavior_name in self.limits:
                new_count = min(new_count, self.limits[behavior_name] - limit_counts[behavior_name])
                limit_counts[behavior_name] = limit_counts[behavior_name] + new_count
            if new_count <= 0:
                continue
            if mean_value is not None:
                values = np.round(np.exp(np.random.normal(np.log(mean_value), size=new_count)), 2)
                self.event_counts[index] += float(values.sum())
            else:
                self.event_counts[index] += new_count
            self.events.append((the_date, index, int(new_count)))
        if self.users is not None:
            self.event_counts[-1] += todays_users
    if self.users is not None:
        self.event_counts[-1] = ceil(self.event_counts[-1] / days)
    return self.event_counts


def simulate(customers: int, seed: int) -> dict[str, Any]:
    import fightchurn.churnsim.churnsim as sim
    from fightchurn.churnsim.customer import Customer
    from omegaconf import OmegaConf

    Customer.generate_events = daily_generate_events

    conf = Path(sim.__file__).parent / "conf"
    cfg = OmegaConf.merge(OmegaConf.load(conf / "default.yaml"), OmegaConf.load(conf / "crm5.yaml"))
    cfg.init_customers = customers
    cfg.start_date = "2023-01-01"
    cfg.end_date = "2024-07-01"
    cfg.random_seed = seed
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("CHURN_OUT_DIR", tempfile.mkdtemp(prefix="hf-fightchurn-"))
    collected: list[Any] = []

    class InMemory(sim.ChurnSimulation):  # type: ignore[misc]
        def add_customer_to_database(self, customer: Any) -> None:
            collected.append(customer)

        def customer_events_subs_to_database(self, customer: Any) -> None:
            pass

        def first_sim_setup(self, force: bool) -> None:
            pass

        def sim_rate_debug_query(self) -> None:
            pass

    simulation = InMemory(cfg)
    simulation.run_simulation()
    names = dict(enumerate(simulation.util_mod.behave_names))
    out: dict[str, Any] = {"end": simulation.end_date.isoformat(), "customers": {}}
    for c in collected:
        daily: Counter[tuple[str, str]] = Counter()
        for day, index, count in c.events:
            daily[(day.isoformat(), names.get(index, str(index)))] += count
        out["customers"][str(c.id)] = {
            "subscriptions": [
                [s[1].isoformat(), s[2].isoformat() if s[2] is not None else None, float(s[3])]
                for s in c.subscriptions
            ],
            "usage": [[day, kind, n] for (day, kind), n in sorted(daily.items())],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    Path(args.out).write_text(json.dumps(simulate(args.customers, args.seed)))


if __name__ == "__main__":
    main()
