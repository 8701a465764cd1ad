# One-command set-up: `make demo` and `make test` create .venv and install everything they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)  ## liquidation prices of the default scenario, and its offline HTML report
	$(VENV)/bin/margin-kit demo
	$(VENV)/bin/margin-kit report -o build/report.html

test: $(STAMP)  ## the whole suite, lint included
	$(VENV)/bin/ruff check margin_kit tests benchmarks
	$(VENV)/bin/ruff format --check margin_kit tests benchmarks
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check margin_kit tests benchmarks
	$(VENV)/bin/ruff format --check margin_kit tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_liquidation.py
	$(PY) benchmarks/bench_risk.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_widgets.py

lab: $(STAMP)  ## JupyterLab on the notebooks (loopback only)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser notebooks

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
