import json

import numpy as np
import pytest

from vi_od.data import trace as trace_io
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles.simulate import trace_statistics


def arrays_of(trace):
    return {
        "X": trace.X.copy(), "u": trace.u.copy(), "v": trace.v.copy(),
        "s_plus": trace.s_plus.copy(), "s_minus": trace.s_minus.copy(),
        "mu_plus": trace.mu_plus.copy(), "mu_minus": trace.mu_minus.copy(),
        "rho": np.float32(trace.rho), "roles": trace.roles.copy(), "eps": trace.eps.copy(),
        "meta": np.array(json.dumps(trace.meta)),
    }  # fmt: skip


def test_save_load_round_trip(small_trace, tmp_path):
    path = trace_io.save(small_trace, tmp_path / "t.npz")
    back = trace_io.load(path)
    for name in ("X", "u", "v", "s_plus", "s_minus", "mu_plus", "mu_minus", "roles", "eps"):
        np.testing.assert_array_equal(getattr(back, name), getattr(small_trace, name))
    assert back.rho == small_trace.rho and back.meta == small_trace.meta
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]  # no temp file left behind


def test_trace_without_truth_loads(small_trace, tmp_path):
    data = arrays_of(small_trace)
    del data["roles"], data["eps"], data["meta"]
    np.savez(tmp_path / "mine.npz", **data)
    back = trace_io.load(tmp_path / "mine.npz")
    assert not back.has_truth and back.N == 30


def corrupt(name, value):
    def apply(data):
        if value is None:
            del data[name]
        else:
            data[name] = value(data[name]) if callable(value) else value

    return apply


def set_at(index, x):
    def f(a):
        a = a.copy()
        a[index] = x
        return a

    return f


BAD = {
    "missing key": (corrupt("s_minus", None), "missing key(s) s_minus"),
    "X not 2-D": (corrupt("X", lambda a: a[0]), "'X' must be 2-D"),
    "X NaN": (corrupt("X", set_at((3, 4), np.nan)), "'X' contains 1 NaN"),
    "X out of range": (corrupt("X", set_at((3, 4), 1.5)), "'X' opinions must lie in [0, 1]"),
    "X integer": (corrupt("X", lambda a: (a > 0.5).astype(int)), "'X' must be float"),
    "u wrong steps": (corrupt("u", lambda a: a[:-1]), "'u' has 198 steps, expected T-1 = 199"),
    "u out of range": (corrupt("u", set_at((0, 0), 30)), "'u' agent indices must lie in [0, 30)"),
    "v negative": (corrupt("v", set_at((0, 0), -1)), "'v' agent indices must lie in [0, 30)"),
    "v float": (corrupt("v", lambda a: a.astype(float)), "'v' must be integer"),
    "s not binary": (corrupt("s_plus", set_at((1, 1), 2)), "'s_plus' values must be 0 or 1"),
    "s shape": (corrupt("s_minus", lambda a: a[:, :3]), "'s_minus' has shape (199, 3)"),
    "mu shape": (corrupt("mu_plus", np.array([0.1])), "'mu_plus' must be 2 numbers"),
    "rho negative": (corrupt("rho", np.float32(-1)), "'rho' must be > 0"),
    "roles shape": (corrupt("roles", lambda a: a[:-1]), "'roles' has shape (29,)"),
    "eps NaN": (corrupt("eps", np.array([0.1, np.nan, 0.6, 0.9])), "'eps' must be finite"),
    "meta not JSON": (corrupt("meta", np.array("{oops")), "'meta' is not a JSON string"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_trace_is_rejected_with_a_precise_message(small_trace, tmp_path, case):
    change, message = BAD[case]
    data = arrays_of(small_trace)
    change(data)
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ViOdError) as err:
        trace_io.load(tmp_path / "bad.npz")
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "bad.npz"))


def test_not_an_npz_file(tmp_path):
    (tmp_path / "junk.npz").write_text("hello")
    with pytest.raises(ViOdError, match="not a readable .npz"):
        trace_io.load(tmp_path / "junk.npz")


def test_summary_counts_interactions_by_receiver_role(small_trace):
    s = trace_statistics(small_trace) | trace_io.summary(small_trace)
    assert s["pos_interactions_L"] + s["pos_interactions_F"] == small_trace.s_plus.sum()
    assert s["neg_interactions_L"] + s["neg_interactions_F"] == small_trace.s_minus.sum()
    assert s["n_leaders"] == 3
