# fakescope developer commands. Each target creates .venv from pyproject.toml when needed.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint format demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

## The README's test command: lint, type-check, then the whole test suite.
test: lint
	$(BIN)/python -m pytest -q

## The README's main command: build a small benchmark, train, evaluate, report, scan.
demo: venv
	$(BIN)/fakescope demo --out demo-run

clean:
	rm -rf $(VENV) demo-run .pytest_cache .mypy_cache .ruff_cache
