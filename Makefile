# vi-od: every target works on a fresh machine (it creates .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := results/demo
JOBS   ?= 1

.PHONY: install demo test test-all lint docs docs-serve bench accuracy figures paper-grid paper-grid-pack clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: install
	mkdir -p $(DEMO)
	$(BIN)/vi-od simulate N=40 T=512 leader_proportion=0.1 --seed 1 --out $(DEMO)/trace.npz --plot $(DEMO)/trajectories.png
	$(BIN)/vi-od fit $(DEMO)/trace.npz --method svi-normal method.steps=3000 --seed 1 --out $(DEMO)/fit.json --plot $(DEMO)/fit.png
	$(BIN)/vi-od sweep -m sweep=smoke --results $(DEMO)
	$(BIN)/vi-od figures $(DEMO)
	@echo "demo done: trace, fit and figures are in $(DEMO)/ (figures in $(DEMO)/figures/)"

test: install
	$(BIN)/python -m pytest

test-all: install
	$(BIN)/python -m pytest -m ""

lint: install
	$(BIN)/ruff check vi_od tests scripts

# The documentation site (mkdocs.yml, docs/) into site/; strict: a warning fails the build.
DOCS_STAMP := $(VENV)/.docs-stamp

$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: install
	$(BIN)/python scripts/bench.py

# One experiment per paper cell with the paper's best and our default method, beside the paper.
accuracy: install
	$(BIN)/vi-od sweep -m sweep=paper method=svi-normal,nuts-marginal 'rep=range(1)' --results results/accuracy
	$(BIN)/vi-od report results/accuracy

figures: install
	$(BIN)/vi-od figures $(DEMO)

# The paper grid of issue 14: seed results/paper-grid from docs/results/paper_grid.parquet,
# run what is missing at nice 19 (make paper-grid JOBS=2), pack every row back into the file.
paper-grid: install
	$(BIN)/python scripts/paper_grid.py --jobs $(JOBS)

paper-grid-pack: install
	$(BIN)/python scripts/paper_grid.py --pack-only

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .ruff_cache
