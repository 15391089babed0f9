"""Every vi-od command the README shows is accepted as written (once, its own sweep
example was refused). Sweeps are expanded (--dry-run); fit and simulate compose their
config and validate their settings, without running."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.config import compose_config, method_settings, simulator_settings, with_method

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def commands(kind: str) -> list[list[str]]:
    """The argument lists of every `vi-od <kind>` line of the README and docs (no placeholders)."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"\\\n\s*", " ", page.read_text())  # a command continued with \
        for line in text.splitlines():
            for part in line.split("&&"):
                text = re.sub(r"^\s*\$?\s*", "", part)
                placeholder = re.search(r"\[|\bDATA\b|\$[A-Z]", text)
                if not text.startswith(f"vi-od {kind} ") or placeholder:
                    continue
                args = shlex.split(text, comments=True)[2:]
                if args not in found:
                    found.append(args)
    return found


def _options(args: list[str]) -> tuple[list[str], dict]:
    """(key=value overrides, {--option: value}) of a command's arguments."""
    overrides, options, rest = [], {}, iter(args)
    for arg in rest:
        if arg.startswith("--"):
            options[arg] = next(rest, None) if arg not in ("--dry-run", "--pdf") else True
        elif "=" in arg:
            overrides.append(arg)
    return overrides, options


RUN_ONLY = ("--jobs", "--timeout", "--backend", "--scheduler", "--results", "--partition",
            "--account", "--workers", "--worker-memory", "--worker-walltime", "--slurm-extra")


def grids() -> list[list[str]]:
    """The README's sweeps without the options that only matter when running (each grid once)."""
    out = []
    for args in commands("sweep"):
        keep = [a for i, a in enumerate(args)
                if a not in RUN_ONLY and (i == 0 or args[i - 1] not in RUN_ONLY)]  # fmt: skip
        keep = [a for a in keep if a != "--dry-run"]
        if keep not in out:
            out.append(keep)
    return out


@pytest.mark.parametrize("args", grids(), ids=" ".join)
def test_readme_sweeps_expand(args, tmp_path):
    result = runner.invoke(app, ["sweep", *args, "--dry-run", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args", commands("fit"), ids=" ".join)
def test_readme_fits_compose(args):
    overrides, options = _options(args)
    method_settings(compose_config(with_method(overrides, options.get("--method"))))


@pytest.mark.parametrize("args", commands("simulate"), ids=" ".join)
def test_readme_simulations_compose(args):
    overrides, _ = _options(args)
    simulator_settings(compose_config(overrides))


def test_the_readme_has_the_multi_method_sweep():
    example = "N=50,100 T=128,512 method=svi-normal,nuts rep=range(2) method.steps=5000"
    assert example.split() in [[a for a in c if a != "-m"] for c in grids()]
