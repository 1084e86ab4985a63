# Two commands for a newcomer: `make demo` (the main job, end to end) and `make test` (the whole suite).
# Both install what they need into .venv on first use (uv, from PyPI, pinned by uv.lock).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
UV_VERSION := 0.13.8
STATE := .state
BOOT := $(STATE)/bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv

# Compile bytecode at install: otherwise every import stays ~2x slower here.
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_LINK_MODE := copy
# Trust the system's CA store (where a TLS-inspecting proxy's CA lives), not only uv's bundled roots.
export UV_SYSTEM_CERTS := true

.PHONY: install demo demo-sample test test-fast test-truth test-demo-sample test-compose-stack soak bench lint typecheck format airflow-ui report report-html dashboards superset-lock clean stop
.DEFAULT_GOAL := help

help:
	@echo "make demo   - run a real loyalty workflow end to end (installs on first use)"
	@echo "make test   - run the whole test suite (installs on first use)"
	@echo "make demo-sample | lint | typecheck | format | report | report-html | dashboards | airflow-ui | test-truth | test-demo-sample | soak | bench | stop | clean"

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PYTHON=$$($(PYTHON) -c 'import sys; print(sys.executable)') $(UV) sync --frozen
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/loyalty-dev demo

# The demo on a retailer's own data: examples/retailer/ loaded with its mapping, the day after its newest order.
demo-sample: install
	$(VENV)/bin/loyalty-dev demo --mapping examples/retailer/mapping.yml

# The suite spread over one pytest-xdist worker per core, a test file per worker at a time (a file's fixtures stay
# together); each worker has its own Postgres, state folder and Airflow home. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: install
	$(VENV)/bin/pytest -m "not e2e"

# The ground-truth measurement test at a larger size (more power; ~10 minutes). `make test` runs it at 7000 customers.
test-truth: install
	LOYALTY_TRUTH_CUSTOMERS=20000 $(VENV)/bin/pytest tests/integration/test_ground_truth.py -v

# The demo on the sample retailer's own data (examples/retailer), as `make demo-sample` runs it: ~3 minutes.
test-demo-sample: install
	LOYALTY_TEST_DEMO_SAMPLE=1 $(VENV)/bin/pytest tests/e2e/test_demo_on_sample.py -v

# docker-compose.yml's Airflow (init, api-server, scheduler, DAG processor, triggerer, a Celery worker) as processes with
# the environment the compose file renders, a DAG run through Redis and the execution API (~2 minutes; make test runs it too).
test-compose-stack: install
	$(VENV)/bin/pytest tests/deploy/test_airflow_stack.py -v

# Crash soak: send tasks killed with SIGKILL mid-batch under provider faults, round after round
# (~8 s a round; SOAK_ROUNDS=200 for a long run, LOYALTY_SOAK_SEED=<n> to repeat one).
SOAK_ROUNDS ?= 50
soak: install
	LOYALTY_SOAK_ROUNDS=$(SOAK_ROUNDS) $(VENV)/bin/pytest tests/integration/test_crash_soak.py -s -v

# Every benchmark in bench/, each ours next to a baseline measured in the same run, as one table, also written into
# docs/benchmarks.md with the machine's cores and memory (~10 minutes on 2 cores beside another test run; SIZE=1m: 1M customers, 10M lines).
SIZE ?= default
bench: install
	$(VENV)/bin/python bench/run_all.py --size $(SIZE)

# Static checks, fast and without a warehouse (dbt's models are linted in pytest: tests/dbt/test_sqlfluff.py).
# One command a line: append new checks here.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m loyalty_dev.sql_lint
	$(VENV)/bin/mypy

# mypy on plugins/ (config in pyproject.toml: strict on specs, ledger, channels and operations).
typecheck: install
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

report: install
	$(VENV)/bin/loyalty report

# The same figures as a self-contained HTML page with charts (opens offline).
report-html: install
	$(VENV)/bin/loyalty report --html $(STATE)/report.html

# Apache Superset on the demo's warehouse (own virtualenv, installed on first use), read-only public view.
dashboards: install | $(UV)
	$(VENV)/bin/loyalty dashboards

# Re-pin Superset's virtualenv (superset/requirements.in -> requirements.txt with hashes).
superset-lock: | $(UV)
	$(UV) pip compile superset/requirements.in --generate-hashes --python-version 3.11 \
		--python-platform linux --quiet -o superset/requirements.txt

airflow-ui: install
	$(VENV)/bin/loyalty-dev airflow-ui

stop: install
	$(VENV)/bin/loyalty dashboards stop
	$(VENV)/bin/loyalty warehouse stop

clean:
	-$(VENV)/bin/loyalty dashboards stop
	-$(VENV)/bin/loyalty warehouse stop
	rm -rf $(STATE) $(VENV)
