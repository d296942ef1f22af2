# The two commands: `make dev` and `make test`. Both need only Python 3.11+ on the machine.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test processes (pytest-xdist): the suite mostly waits (on PostgreSQL, the broker, subprocesses), so
# several processes on two cores take a third or more off its wall time. Tests marked `serial` (one
# restarts the broker every other test uses) run afterwards, alone; their files are listed here
# (tests/unit/test_make_targets.py checks the list against the marks).
TEST_WORKERS ?= 3
SERIAL_TESTS := tests/integration/test_connector_delivery.py

.PHONY: install dev test lint services unit integration browser bench clean lock

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "make: Python 3.11+ is required (python3.11 or newer on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,embedded,sim]'
	@touch $(STAMP)

# Re-resolve every dependency in a scratch venv and pin the result (constraints.txt).
lock:
	@test -n "$(PYTHON)" || { echo "make: Python 3.11+ is required"; exit 1; }
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q '.[dev,embedded,sim]'
	{ head -3 constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^billing-functions'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

install: $(STAMP)

services:
	@bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check shared functions tests bench
	$(BIN)/mypy shared/billing functions

test: install services lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial" --cov --cov-report= $(PYTEST_ARGS)
	$(BIN)/pytest -m serial --cov --cov-append --cov-report=term --cov-fail-under=80 $(PYTEST_ARGS) $(SERIAL_TESTS)

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: install services
	$(BIN)/pytest tests/integration tests/e2e $(PYTEST_ARGS)

# The console's tests in a real headless Chromium, alone (they also run in `make test`).
browser: install services
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

# `make dev PORT=8081 HOST=0.0.0.0` passes through to `billing dev`.
PORT ?= 8080
HOST ?= 127.0.0.1
dev: install
	$(BIN)/billing dev --host $(HOST) --port $(PORT)

bench: install services
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
