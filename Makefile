# One-command set-up: `make demo`, `make test` and `make lab` create .venv and install what they
# need: demo the runtime packages only, lab adds JupyterLab, test/lint/bench the dev extra
# (tests, tools, JupyterLab, numba for the compiled kernel). Each stamp is redone when
# pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNTIME := $(VENV)/.installed-runtime
LAB     := $(VENV)/.installed-lab
DEV     := $(VENV)/.installed-dev

.PHONY: demo test lint bench lab clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(LAB): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[lab]"
	touch $@ $(RUNTIME)

$(DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(LAB) $(RUNTIME)

demo: $(RUNTIME)  ## liquidation prices of the default scenario, and its offline HTML report
	$(VENV)/bin/margin-kit demo
	$(VENV)/bin/margin-kit report -o build/report.html

test: $(DEV)  ## the whole suite, lint included
	$(VENV)/bin/ruff check margin_kit tests benchmarks
	$(VENV)/bin/ruff format --check margin_kit tests benchmarks
	$(PY) -m pytest -n 2 -q

lint: $(DEV)
	$(VENV)/bin/ruff check margin_kit tests benchmarks
	$(VENV)/bin/ruff format --check margin_kit tests benchmarks

bench: $(DEV)
	$(PY) benchmarks/bench_liquidation.py
	$(PY) benchmarks/bench_risk.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_widgets.py

lab: $(LAB)  ## JupyterLab on the notebooks (loopback only)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser notebooks

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
