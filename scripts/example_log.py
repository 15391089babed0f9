"""Write docs/examples/events.csv and truth.csv: `make demo`'s trace as a user's log looks.

String ids, a step every 15 minutes from 2024-03-01 09:00, rows shuffled, opinions to 4
decimals; truth.csv names each agent's role. The README's worked example fits this log.

    python scripts/example_log.py [--out docs/examples]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from vi_od.data.trace import to_observations
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace

# the trace of `make demo`: vi-od simulate N=40 T=512 leader_proportion=0.1 --seed 1
SETTINGS = SimulatorSettings(N=40, T=512, leader_proportion=0.1)
SEED = 1


def write(out: Path) -> tuple[Path, Path]:
    """Simulate the demo trace and write it as an event log and a truth table into `out`."""
    obs = to_observations(simulate_trace(SETTINGS.validate(), SEED))
    names = np.array([f"user{i:02d}" for i in range(obs.N)])
    start = pd.Timestamp("2024-03-01 09:00")
    events = pd.DataFrame(
        {
            "time": start + pd.to_timedelta(15 * np.asarray(obs.time), unit="min"),
            "sender": names[obs.sender],
            "receiver": names[obs.receiver],
            "sender_opinion": np.asarray(obs.sender_opinion).round(4),
            "receiver_opinion": np.asarray(obs.receiver_opinion).round(4),
            "positive": obs.s_plus,
            "negative": obs.s_minus,
        }
    ).sample(frac=1, random_state=0)
    roles = np.where(np.asarray(obs.roles) == 1, "leader", "follower")
    out.mkdir(parents=True, exist_ok=True)
    events.to_csv(out / "events.csv", index=False)
    pd.DataFrame({"agent": names, "role": roles}).to_csv(out / "truth.csv", index=False)
    return out / "events.csv", out / "truth.csv"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/examples"))
    for path in write(parser.parse_args().out):
        print(f"written {path}")
