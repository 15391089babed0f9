import numpy as np
import pytest

from vi_od.data.trace import Trace
from vi_od.inference.posterior import (
    brier_score,
    expected_calibration_error,
    make_posterior,
    metrics,
    rmse_eps,
)
from vi_od.models import default_model
from vi_od.models.bcm_roles.model import BCM_ROLES


def test_majority_of_leaders_flips_roles_and_swaps_eps():
    eps = np.array([[0.1, 0.3, 0.6, 0.9], [0.2, 0.4, 0.7, 0.8]])
    post = make_posterior("m", eps, p_leader=[0.9, 0.8, 0.7, 0.1], model=BCM_ROLES)
    np.testing.assert_allclose(post.samples, [[0.3, 0.1, 0.9, 0.6], [0.4, 0.2, 0.8, 0.7]])
    np.testing.assert_allclose(post.p_leader, [0.1, 0.2, 0.3, 0.9])
    np.testing.assert_array_equal(post.roles, [0, 0, 0, 1])


def test_half_or_fewer_leaders_keeps_labels():
    post = make_posterior(
        "m", np.array([0.1, 0.3, 0.6, 0.9]), p_leader=[0.9, 0.8, 0.1, 0.1], model=BCM_ROLES
    )
    np.testing.assert_allclose(post.mean, [0.1, 0.3, 0.6, 0.9])
    np.testing.assert_array_equal(post.roles, [1, 1, 0, 0])


def test_rmse_closed_form():
    assert rmse_eps([0.1, 0.2, 0.6, 0.7], [0.1, 0.2, 0.6, 0.7]) == 0
    assert rmse_eps([0.2, 0.2, 0.6, 0.7], [0.1, 0.2, 0.6, 0.7]) == pytest.approx(0.05)
    assert rmse_eps([0.3, 0.4, 0.8, 0.9], [0.1, 0.2, 0.6, 0.7]) == pytest.approx(0.2)


def test_calibration_hand_cases():
    assert brier_score([1, 0, 0], [1, 0, 0]) == 0
    assert brier_score([0.5, 0.5], [1, 0]) == 0.25
    # all in one bin: |mean p - share of leaders| = |0.25 - 0.5|
    assert expected_calibration_error([0.2, 0.2, 0.3, 0.3], [1, 0, 1, 0]) == pytest.approx(0.25)
    # two bins, each perfectly calibrated
    assert expected_calibration_error([0.0, 0.0, 1.0], [0, 0, 1]) == 0
    # bins 0.0-0.1 (p=.05, y=0) and 0.9-1.0 (p=.95, y=1): each off by 0.05
    assert expected_calibration_error([0.05, 0.95], [0, 1]) == pytest.approx(0.05)


def test_metrics_against_truth():
    trace = Trace(
        X=np.zeros((2, 4), np.float32), u=np.zeros((1, 1), np.int32), v=np.ones((1, 1), np.int32),
        s_plus=np.zeros((1, 1), np.int8), s_minus=np.zeros((1, 1), np.int8),
        mu_plus=np.full(2, 0.02), mu_minus=np.full(2, 0.02), rho=32.0,
        roles=np.array([1, 1, 0, 0], np.int8), eps=np.array([0.3, 0.1, 0.6, 0.9]),
    )  # fmt: skip
    post = make_posterior(
        "m", [[0.3, 0.1, 0.6, 0.9]], p_leader=[0.9, 0.2, 0.1, 0.0], model=BCM_ROLES
    )
    m = metrics(post, trace, default_model())
    assert m["rmse_eps"] == pytest.approx(0, abs=1e-12)
    assert m["role_error_rate"] == 0.25 and m["perfect_roles"] is False
    assert m["leaders_recall"] == 0.5
    assert m["brier"] == pytest.approx((0.01 + 0.64 + 0.01 + 0) / 4)
