"""Unconverged samplers are said so: a warning, a `converged` flag in the fit and the row,
a count in the report (max r_hat 1.32 and min ESS 6 were once printed as if fine)."""

import json
import math

import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import trace as trace_io
from vi_od.inference.convergence import converged, warning
from vi_od.reporting.report import report_table, to_markdown

runner = CliRunner()
STUCK = {"method": "nuts", "chains": 1, "r_hat": {"a": 1.32, "b": 1.0}, "ess": {"a": 6.0, "b": 400}}


@pytest.mark.parametrize(
    "info, expected",
    [
        (STUCK, False),
        ({**STUCK, "r_hat": {"a": 1.005}, "ess": {"a": 150.0}}, True),
        ({**STUCK, "chains": 2, "r_hat": {"a": 1.005}, "ess": {"a": 150.0}}, False),  # 100/chain
        ({**STUCK, "r_hat": {"a": math.nan}, "ess": {"a": 500.0}}, False),  # stuck: NaN
        ({**STUCK, "r_hat": {"a": 1.0}, "ess": {"a": math.nan}}, False),
        ({"method": "svi-normal", "final_loss": 502.5}, True),
        ({"method": "svi-normal", "final_loss": math.inf}, False),
        ({"method": "abc", "simulations": 1000}, None),  # no convergence check
    ],
)
def test_the_fields_convention(info, expected):
    assert converged(info) is expected
    assert (warning(info) is None) == (expected is not False)


def test_the_warning_names_the_numbers_and_what_to_do():
    line = warning(STUCK)
    assert "max r_hat 1.320" in line and "min ESS 6 (want >= 100)" in line
    assert "method.warmup" in line and "nuts-marginal" in line and "\n" not in line


def test_a_short_nuts_fit_warns_and_records_converged_false(small_trace, tmp_path):
    path = trace_io.save(small_trace, tmp_path / "t.npz")
    out = tmp_path / "fit.json"
    args = ["fit", str(path), "--method", "nuts-marginal", "method.warmup=20",
            "method.samples=20", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "nuts-marginal has not converged" in warnings[0]
    assert json.loads(out.read_text())["converged"] is False


def test_the_report_counts_unconverged_runs(results_frame):
    runs = results_frame.assign(converged=None)
    svi = runs.index[(runs.method == "svi-normal") & (runs.status == "ok")]
    runs.loc[svi[:3], "converged"] = False
    runs.loc[svi[3:], "converged"] = True
    table = report_table(runs)
    assert table.loc["svi-normal", "unconverged"] == 3 and math.isnan(
        table.loc["nuts", "unconverged"]
    )
    header = to_markdown(table).splitlines()[0]
    assert header.rstrip(" |").endswith("unconverged")
    assert "unconverged" not in to_markdown(report_table(results_frame))  # no run recorded it
