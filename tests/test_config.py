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


# --- method settings: every value checked against its field's type, for every method ------

# a value of the wrong type for each annotation a Settings field has; a new annotation must
# be added here (the test below fails on an unknown one)
WRONG = {
    "int": ("abc", "an integer"),
    "float": ("abc", "a number"),
    "bool": ("maybe", "true or false"),
    "str": (3, "a string"),
    "tuple[float, float]": ([1.0], "a list of 2 numbers"),
    "tuple[int, ...]": ([8, "x"], "a list of integers"),
    "float | None": ("abc", "a number or null"),
}


def method_fields():
    import dataclasses

    from vi_od.inference import registry

    for name, method in sorted(registry().items()):
        for f in dataclasses.fields(method.Settings):
            yield pytest.param(name, f.name, f.type, id=f"{name}.{f.name}")


@pytest.mark.parametrize("method,key,annotation", list(method_fields()))
def test_every_setting_of_every_method_is_type_checked(method, key, annotation):
    from vi_od.config import method_settings

    value, allowed = WRONG[str(annotation)]
    cfg = compose_config([f"method={method}"])
    cfg.method[key] = value
    with pytest.raises(ViOdError) as err:
        method_settings(cfg)
    shown = str(value).replace("'", "")
    assert (
        str(err.value).replace("'", "") == f"method.{key}={shown} is not allowed: must be {allowed}"
    )


def test_every_method_accepts_its_defaults_and_keeps_the_values_as_given():
    from vi_od.config import method_settings
    from vi_od.inference import registry

    for name, method in registry().items():
        chosen, settings = method_settings(compose_config([f"method={name}"]))
        assert chosen.name == name and isinstance(settings, method.Settings)
    # an integer for a float field is kept as written: sweep job ids hash the settings
    _, settings = method_settings(compose_config(["method=svi-normal", "method.lr=1"]))
    assert settings.lr == 1 and type(settings.lr) is int


def test_the_default_method_is_nuts_marginal():
    from vi_od.config import method_settings

    assert method_settings(compose_config([]))[0].name == "nuts-marginal"


# --- the plain composer (no Hydra) gives Hydra's config and Hydra's errors --------------


def _groups() -> list[str]:
    from vi_od.config import _conf_folder

    folder = _conf_folder()
    return [f"{g.name}={p.stem}" for g in sorted(folder.iterdir()) if g.is_dir()
            for p in sorted(g.glob("*.yaml"))]  # fmt: skip


PLAIN = [
    [], ["N=50", "T=128"], ["leader_proportion=0.02", "simulator.rho=10"], ["N=abc"],
    ["seed=-3"], ["N=+4"], ["simulator.rho=1e-3"], ["simulator.rho=2.5E+2"], ["N=True"],
    ["simulator.eps=null"], ["simulator.eps=abc"], ["simulator.deterministic=false"],
    ["method=svi-normal", "method.steps=500", "method.lr=1"],
    ["method.steps=500", "method=svi-normal"],
    ["model.name=pkg.mod:ATTR"], ["model=deffuant", "simulator.mu=0.3"],
    ["sweep=paper", "backend=dask"], ["method.name=x-y.z/w"], ["rep=0"],
]  # fmt: skip
BAD = [
    ["Nx=3"], ["simulator.rhoo=3"], ["method=nope"], ["model=nope"],
    ["method=svi-normal", "method.stepz=3"],
    ["method.stepz=3"], ["model=deffuant", "leader_proportion=0.1"], ["method=nope", "Nx=1"],
    ["sweep.nope=1"], ["backend=dask", "backend.nope=2"], ["model=deffuant", "simulator.mu_plus=1"],
]  # fmt: skip


@pytest.mark.parametrize("overrides", PLAIN + [[g] for g in _groups()], ids=str)
def test_the_plain_composer_gives_hydras_config(overrides):
    from omegaconf import OmegaConf

    from vi_od.config import _compose_hydra, _compose_plain

    plain = _compose_plain(overrides)
    assert plain is not None, "left to Hydra"
    hydra = OmegaConf.to_container(_compose_hydra(overrides), resolve=True)
    assert plain == hydra and list(plain) == list(hydra)
    assert [type(v) for v in _leaves(plain)] == [type(v) for v in _leaves(hydra)]


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, list):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree]


@pytest.mark.parametrize("overrides", BAD, ids=str)
def test_the_plain_composer_refuses_as_hydra_does(overrides):
    from vi_od.config import _compose_hydra, _compose_plain

    with pytest.raises(ViOdError) as plain:
        _compose_plain(overrides)
    with pytest.raises(ViOdError) as hydra:
        _compose_hydra(overrides)
    assert str(plain.value) == str(hydra.value)


@pytest.mark.parametrize(
    "override",
    ["N=[1,2]", "N='a b'", "N=1_000", "N=${T}", "N=.5", "N=inf", "N=inf_x", "N=", "N=a,b",
     "simulator=3", "simulator.mu_plus=0.3", "N.x=1", "x.y=1", "hydra.run.dir=x", "method=null"],
)  # fmt: skip
def test_the_plain_composer_leaves_the_rest_to_hydra(override):
    from vi_od.config import _compose_plain

    assert _compose_plain([override]) is None
    assert _compose_plain(["N=3", "N=4"]) is None
