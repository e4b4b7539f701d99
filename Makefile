# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test check lint format bench accuracy clean

$(BIN)/turnout: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: start turnout on its embedded default
run: $(BIN)/turnout
	$(BIN)/turnout serve

## test: lint, format check, type check and the whole test suite
test: $(BIN)/turnout check
	$(BIN)/pytest

check: $(BIN)/turnout
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy

format: $(BIN)/turnout
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

bench: $(BIN)/turnout
	$(BIN)/python scripts/bench_diagnose.py

accuracy: $(BIN)/turnout
	$(BIN)/python scripts/corpus_accuracy.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
