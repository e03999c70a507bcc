"""Run the churn simulation of "Fighting Churn With Data" (PyPI ``fightchurn``, model crm5) in
memory and write subscriptions and daily event counts as JSON (used by bench/health_quality).

    python bench/fightchurn_sim.py OUT.json [--customers 400] [--seed 11]

Only the simulation's database writes are replaced (the simulated customers are collected);
its behaviour, utility and churn models run unchanged. It imports nothing from Holdfast, so it
can run in a separate environment when fightchurn's pins clash with ours.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np


def simulate(customers: int, seed: int) -> dict[str, Any]:
    import fightchurn.churnsim.churnsim as sim
    from omegaconf import OmegaConf

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
        daily = Counter((e[0].date().isoformat(), names.get(e[1], str(e[1]))) for e in c.events)
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
