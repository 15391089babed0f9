"""The README's `vi-od check` figure: a log whose followers' eps+ drifts, caught over time.

300 agents, T = 2001 (20,000 interactions), eps (0.25, 0.15, 0.65, 0.85), the followers' eps+
rising by 0.2 over the log (vi_od.models.bcm_roles.misspecified); fitted with svi-marginal and
checked with the defaults. Writes docs/figures/check_drift.png and prints the check's one line.
"""

import json
from pathlib import Path

from vi_od.data.trace import to_observations
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models.bcm_roles import ppc
from vi_od.models.bcm_roles.misspecified import simulate_misspecified
from vi_od.models.bcm_roles.simulate import SimulatorSettings
from vi_od.progress import quiet

OUT = Path("docs/figures/check_drift.png")


def main() -> None:
    settings = SimulatorSettings(N=300, T=2001, leader_proportion=0.1, eps=(0.25, 0.15, 0.65, 0.85))
    obs = to_observations(simulate_misspecified(settings, seed=0, drift=0.2))
    with quiet():
        fit = fit_observations(obs, "svi-marginal", get("svi-marginal").Settings(), seed=0)
    record = json.loads(json.dumps(fit.record))
    result = ppc.check(obs, ppc.draws_from_record(record, obs.N))
    print(result.summary_line())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    ppc.figure(result).savefig(OUT, dpi=70)
    print(f"figure -> {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
