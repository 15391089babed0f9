"""SBC: ranks on an exact posterior are uniform, coverage, truths drawn from each method's prior."""

import numpy as np
import pytest
from scipy import stats

from vi_od.checks import sbc
from vi_od.models.bcm_roles import EPS_NAMES
from vi_od.models.bcm_roles import sbc as bcm_sbc

MARGINAL = bcm_sbc.prior_spec("svi-marginal", {"pi_prior": [1.0, 4.0], "pi_fixed": None})
RELAXED = bcm_sbc.prior_spec("svi-normal", {"steps": 100})


def conjugate_ranks(replicates: int, draws: int, shift: float = 0.0, scale: float = 1.0):
    """Normal-normal SBC: theta ~ N(0, 1), 5 observations y ~ N(theta, 1), and `draws` exact
    posterior draws N(sum y / 6, 1/6) (shifted by `shift` sds, sds times `scale`)."""
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(replicates)
    y = theta[:, None] + rng.standard_normal((replicates, 5))
    mean, sd = y.sum(axis=1) / 6, np.sqrt(1 / 6)
    posterior = mean[:, None] + sd * (shift + scale * rng.standard_normal((replicates, draws)))
    return np.array([sbc.ranks(p[:, None], t[None])[0] for p, t in zip(posterior, theta)])


def uniformity_p(ranks: np.ndarray, draws: int) -> float:
    """Chi-square test of the ranks against the uniform on 0..draws (draws + 1 bins)."""
    counts = np.bincount(ranks, minlength=draws + 1)
    assert counts.size == draws + 1  # a rank off by one would land in a bin that does not exist
    return stats.chisquare(counts).pvalue


# The exact ranks must pass at 0.001 (at this seed p = 0.0095); every miscalibration below
# gives p < 1e-15 with the same 4000 replicates, so the test separates them by far.
def test_ranks_of_exact_posterior_draws_are_uniform():
    ranks = conjugate_ranks(4000, draws=9)
    assert ranks.min() == 0 and ranks.max() == 9
    assert uniformity_p(ranks, 9) > 0.001


@pytest.mark.parametrize("shift,scale", [(0.15, 1.0), (0.0, 0.8), (0.0, 2.0)])
def test_a_biased_over_or_underconfident_posterior_fails_the_same_test(shift, scale):
    assert uniformity_p(conjugate_ranks(4000, draws=9, shift=shift, scale=scale), 9) < 1e-10


def test_ranks_off_by_one_fail_the_same_test():
    ranks = conjugate_ranks(4000, draws=9)
    shifted = np.minimum(ranks + 1, 9)  # as if counting draws <= truth, plus one, capped
    assert uniformity_p(shifted, 9) < 1e-10


def test_coverage_counts_the_truth_inside_its_interval_and_skips_unknown_bounds():
    inside = sbc.covered([0.2, 0.5, 0.9, 0.3], [0.1, 0.6, 0.0, np.nan], [0.3, 0.7, 1.0, 0.4])
    assert inside[:3].tolist() == [1.0, 0.0, 1.0] and np.isnan(inside[3])
    assert sbc.covered([0.1], [0.1], [0.2]).tolist() == [1.0]  # bounds are inside


def test_interval_columns_name_every_quantile_and_rank_among_thinned_draws():
    draws = np.random.default_rng(1).uniform(0, 1, (500, 4))
    truth = np.array([0.0, 0.25, 0.5, 2.0])
    row = sbc.interval_columns(draws, EPS_NAMES, dict(zip(EPS_NAMES, truth)))
    assert row["n_draws"] == sbc.RANK_DRAWS == 100
    assert [row[f"rank_{n}"] for n in (EPS_NAMES[0], EPS_NAMES[3])] == [0, 100]
    for name in EPS_NAMES:
        assert row[f"q05_{name}"] < row[f"q25_{name}"] < row[f"q75_{name}"] < row[f"q95_{name}"]
    assert row["q05_eps_plus_F"] == pytest.approx(0.05, abs=0.03)
    no_truth = sbc.interval_columns(draws, EPS_NAMES, None)
    assert "rank_eps_plus_F" not in no_truth  # no truth, no rank


def test_marginal_prior_folds_pi_below_one_half_and_follows_the_mixture():
    truths = [bcm_sbc.draw_truth(MARGINAL, 40, seed) for seed in range(400)]
    pi = np.array([t.pi for t in truths])
    assert pi.max() <= 0.5
    # folding 1/2 Beta(1, 4) + 1/2 Beta(4, 1) at 1/2 gives the CDF F_14(x) + F_41(x)
    folded = lambda x: stats.beta(1, 4).cdf(x) + stats.beta(4, 1).cdf(x)
    assert stats.kstest(pi, folded).pvalue > 0.01
    eps = np.array([t.eps for t in truths])
    assert (eps[:, :2] > 0).all() and (eps[:, :2] < 0.5).all() and (eps[:, 2:] > 0.5).all()
    assert 0.3 < np.mean(eps[:, 0] < eps[:, 1]) < 0.7  # unordered, unlike the paper's grid
    assert abs(np.mean([t.roles.mean() for t in truths]) - pi.mean()) < 0.02


def test_relaxed_prior_draws_about_half_leaders_and_keeps_them_the_minority():
    truths = [bcm_sbc.draw_truth(RELAXED, 40, seed) for seed in range(200)]
    leaders = np.array([t.roles.sum() for t in truths])
    assert leaders.max() <= 20 and leaders.mean() > 14  # Bernoulli(1/2) each, majority relabelled
    again = bcm_sbc.draw_truth(RELAXED, 40, 3)
    assert again.eps.tolist() == bcm_sbc.draw_truth(RELAXED, 40, 3).eps.tolist()


def test_a_prior_trace_carries_its_truth_and_is_reproducible():
    simulator = {"N": 20, "T": 30, "leader_proportion": 0.1, "edges_per_step": 10, "rho": 32.0,
                 "mu_plus": [0.02, 0.02], "mu_minus": [0.02, 0.02], "eps": None}  # fmt: skip
    a = bcm_sbc.simulate_from_prior(simulator, MARGINAL, 11)
    b = bcm_sbc.simulate_from_prior(simulator, MARGINAL, 11)
    truth = bcm_sbc.draw_truth(MARGINAL, 20, 11)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.s_plus, b.s_plus)
    assert a.roles.tolist() == truth.roles.tolist() and np.allclose(a.eps, truth.eps)
    assert a.meta["truth"] == MARGINAL and a.X.shape == (30, 20)
