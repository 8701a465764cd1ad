# One-command set-up: `make demo` and `make test` create .venv and install everything they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)  ## liquidation prices of the default scenario, isolated and cross
	$(VENV)/bin/margin-kit demo

test: $(STAMP)  ## the whole suite, lint included
	$(VENV)/bin/ruff check margin_kit tests benchmarks
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check margin_kit tests benchmarks
	$(VENV)/bin/ruff format --check margin_kit tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_liquidation.py
	$(PY) benchmarks/bench_risk.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
