"""The predictive check of the shared-threshold models (deffuant, bcm-backfire)."""

import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.models.bcm_backfire import Settings as BackfireSettings
from vi_od.models.bcm_backfire import simulate_trace as simulate_backfire
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.models.deffuant import Settings as DeffuantSettings
from vi_od.models.deffuant import simulate_trace as simulate_deffuant
from vi_od.progress import quiet


def _check(model_name: str, trace):
    model, obs = get_model(model_name), to_observations(trace)
    with quiet():
        fit = fit_observations(obs, "nuts-marginal", get("nuts-marginal").Settings(), 0, model)
    draws = model.ppc.draws_from_record(fit.record, obs)
    return model.ppc.check(obs, draws, seed=1)


def test_deffuant_data_pass_the_deffuant_check():
    trace = simulate_deffuant(DeffuantSettings(N=100, T=512).validate(), 3)
    result = _check("deffuant", trace)
    assert not result.misfit, result.summary_line()
    assert {s.sign for s in result.statistics} == {"s+"}  # no backfire, no s- statistics
    assert sum(s.tested for s in result.statistics) >= 8


def test_backfire_data_pass_the_backfire_check():
    settings = BackfireSettings(N=100, T=512, backfire=1, mu_plus=0.05, mu_minus=0.09)
    result = _check("bcm-backfire", simulate_backfire(settings.validate(), 5))
    assert not result.misfit, result.summary_line()


def test_leaders_are_a_misfit_of_one_shared_threshold():
    """Two roles with eps+ 0.35 and 0.10: one threshold for all cannot make the agents'
    spread of s+ rates, nor the s+ rates between the two thresholds."""
    settings = SimulatorSettings(N=100, T=1024, leader_proportion=0.2,
                                 eps=(0.35, 0.1, 0.95, 0.95))  # fmt: skip
    result = _check("bcm-backfire", simulate_trace(settings.validate(), 2))
    assert result.misfit
    assert "s+ agent sd" in [s.name for s in result.failing]


def test_a_fit_of_another_model_is_refused():
    class Record:
        draws = np.zeros((10, 5), np.float32)

    with pytest.raises(ViOdError, match="not this model's 1 parameters"):
        get_model("deffuant").ppc.draws_from_record(Record(), None)
