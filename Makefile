# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AGENTS_VENV ?= .venv-agents
AGENTS := tests/agents

.PHONY: run test check format bench accuracy chaos soak clean agents browser

$(BIN)/turnout: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## run: start turnout on its embedded default
run: $(BIN)/turnout
	$(BIN)/turnout serve

## test: lint, format check, type check and the whole test suite
test: $(BIN)/turnout check agents browser
	$(BIN)/pytest

## browser: Debian's headless Chromium, its driver and a CJK font, for tests/test_dashboard.py
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -e $(CJK_FONT) ]; then \
		apt-get update && apt-get install -y chromium chromium-driver fonts-wqy-microhei; \
	fi

## agents: install the real agent clients that tests/test_agents.py drives (from PyPI and npm)
agents: $(AGENTS)/node_modules/.installed $(AGENTS_VENV)/bin/hermes

$(AGENTS)/node_modules/.installed: $(AGENTS)/package.json $(AGENTS)/package-lock.json
	# npm install, not npm ci: the lock pins every version, but opencode-ai lists a platform
	# package per OS as optional and the registry here serves this platform's only, which npm ci
	# refuses as a lock out of sync.
	cd $(AGENTS) && npm install --no-audit --no-fund
	$(AGENTS)/node_modules/.bin/claude --version
	$(AGENTS)/node_modules/.bin/gemini --version
	touch $@

$(AGENTS_VENV)/bin/hermes: $(AGENTS)/requirements.txt
	$(PYTHON) -m venv $(AGENTS_VENV)
	$(AGENTS_VENV)/bin/pip install --quiet --upgrade pip
	$(AGENTS_VENV)/bin/pip install --quiet -r $(AGENTS)/requirements.txt
	touch $@

check: $(BIN)/turnout
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy

format: $(BIN)/turnout
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

bench: $(BIN)/turnout
	$(BIN)/python scripts/bench_diagnose.py
	$(BIN)/python scripts/bench_relay.py
	$(BIN)/python scripts/bench_signing.py

accuracy: $(BIN)/turnout
	$(BIN)/python scripts/corpus_accuracy.py

## chaos: 12,000 requests (at most 15 minutes) through turnout with injected faults; one summary line
chaos: $(BIN)/turnout
	$(BIN)/python scripts/chaos.py --requests 12000 --seconds 900

## soak: a long bounded run through `turnout serve` (10,000 invented model names, a dashboard open): memory, descriptors, series, marks and rows
soak: $(BIN)/turnout
	$(BIN)/python scripts/soak.py --seconds 600

clean:
	rm -rf $(VENV) $(AGENTS_VENV) $(AGENTS)/node_modules build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
