"""Every shell command in README.md's and the getting-started page's ```bash blocks runs as
written, in order, in a fresh folder (with the repository's docs/ beside it, for the shipped
example log), with the real `vi-od` of this environment.

Not run, and why (a command that matches none of these and fails, fails the test):
- `make ...`: `make demo` and `make test` are what CI and this suite already run;
- `pip install ...`: this suite runs inside the installed environment.

No command is shrunk: the documented ones are already small. The commands that fit, check,
sweep or draw take over a minute together and run under `-m slow` (make test-all); the
rest (simulate, inspect, head, dry runs) run in `make test`.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"readme": ROOT / "README.md", "getting-started": ROOT / "docs" / "getting-started.md"}
NOT_RUN = ("make ", "pip install ")
SLOW = re.compile(r"vi-od (fit|check|report|figures)\b|vi-od sweep (?!.*--dry-run)|agents\.csv$")
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def commands(page: Path) -> list[str]:
    """The commands of a page's bash blocks, in order (continuation lines joined)."""
    out = []
    for block in BLOCK.findall(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(line.strip())
    return out


def is_slow(command: str) -> bool:
    return bool(SLOW.search(command.split(" #")[0].strip()))


def run_page(page: Path, folder: Path, slow: bool) -> dict[str, str]:
    """Run the page's commands (all, or the fast ones) in `folder`; their stdout by command."""
    (folder / "docs").symlink_to(ROOT / "docs")
    env = dict(os.environ, MPLBACKEND="Agg", COLUMNS="200")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    outputs = {}
    for command in commands(page):
        if command.startswith(NOT_RUN) or (is_slow(command) and not slow):
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"{page.name}: `{command}` exited {done.returncode}:\n" + (done.stderr[-2000:])
        )
        outputs[command] = done.stdout
    return outputs


def test_the_pages_have_commands_and_both_kinds():
    for page in PAGES.values():
        found = [c for c in commands(page) if not c.startswith(NOT_RUN)]
        assert found, page
        assert any(is_slow(c) for c in found) and not all(is_slow(c) for c in found), page
    quick_start = [c.split(" #")[0].strip() for c in commands(PAGES["readme"])[:2]]
    assert quick_start == ["make demo", "make test"]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_fast_commands_run_as_written(name, tmp_path):
    outputs = run_page(PAGES[name], tmp_path, slow=False)
    assert outputs
    inspect = [out for cmd, out in outputs.items() if cmd.startswith("vi-od inspect")]
    assert inspect and all("valid" in out for out in inspect)


@pytest.mark.slow
def test_every_getting_started_command_runs_as_written(tmp_path):
    run_page(PAGES["getting-started"], tmp_path, slow=True)


@pytest.mark.slow
def test_every_readme_command_runs_and_prints_what_the_readme_shows(tmp_path):
    """Every command, then the lines of the example's output that do not depend on the
    machine, and the leaders found against the shipped truth."""
    outputs = run_page(PAGES["readme"], tmp_path, slow=True)
    printed = "\n".join(outputs.values())
    shown = PAGES["readme"].read_text().split("```text\n", 1)[1].split("```", 1)[0]
    stable = [
        line
        for line in shown.splitlines()
        if line.startswith(("leaders found", "role error", "leader proportion", "no misfit"))
        or line.startswith("│ eps_")
        or line.endswith("valid event log")
    ]
    assert len(stable) >= 8
    for line in stable:
        assert line.strip() in printed, line
    leaders = (tmp_path / "agents.csv").read_text().splitlines()
    found = sorted(row.split(",")[0] for row in leaders if ",leader," in row)
    truth = (ROOT / "docs/examples/truth.csv").read_text().splitlines()
    assert found == sorted(row.split(",")[0] for row in truth if row.endswith(",leader"))
