import pytest

from vi_od.config import compose_config, simulator_settings
from vi_od.errors import ViOdError


def settings(*overrides):
    return simulator_settings(compose_config(list(overrides)))


def test_defaults_and_overrides():
    s = settings("N=50", "T=128", "leader_proportion=0.02", "simulator.rho=10")
    assert (s.N, s.T, s.n_leaders, s.rho, s.edges_per_step) == (50, 128, 1, 10.0, 10)
    assert s.eps is None


@pytest.mark.parametrize(
    "override,message",
    [
        ("N=1", "N=1 is not allowed: must be an integer >= 2"),
        ("N=2.5", "N=2.5 is not allowed: must be an integer"),
        ("N=abc", "N=abc is not allowed: must be a number"),
        ("T=1", "T=1 is not allowed"),
        ("simulator.edges_per_step=0", "simulator.edges_per_step=0 is not allowed"),
        ("leader_proportion=1.5", "leader_proportion=1.5 is not allowed: must be in (0, 1)"),
        ("leader_proportion=0.001", "round(N * p) >= 1"),
        ("simulator.mu_plus=[0.1,1.2]", "simulator.mu_plus=[0.1, 1.2] is not allowed"),
        ("simulator.rho=0", "simulator.rho=0.0 is not allowed: must be > 0"),
        ("simulator.eps=[0.1,0.2,0.6,0.7]", "eps+_F >= eps+_L"),
        ("simulator.eps=[0.2,0.1,0.8,0.7]", "eps-_F <= eps-_L"),
        ("simulator.eps=[0.6,0.1,0.8,0.9]", "eps+ in [0, 0.5]"),
        ("simulator.eps=[0.2,0.1]", "4 numbers"),
        ("Nx=3", "unknown config key 'Nx' (known: "),
        ("simulator.rhoo=3", "unknown config key 'simulator.rhoo'"),
        ("method=nope", "unknown method 'nope' (available: "),
        ("N=[1,2", "invalid override"),
    ],
)
def test_bad_config_names_the_key(override, message):
    with pytest.raises(ViOdError) as err:
        settings(override)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
