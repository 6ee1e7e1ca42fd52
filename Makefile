# The two commands: `make run` (the portal, with embedded PostgreSQL/Redis when none is
# configured) and `make test`. Everything else here serves those two.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEVSTACK := $(PY) -m portal.devstack
# Two xdist workers fit the 2-core machines; override with `make test TEST_WORKERS=4`.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: run test bench bench-scale lint format check-migrations smoke deploy-check clean help

help:
	@echo "make run    - the portal on http://localhost:8000 (worker, beat, embedded services)"
	@echo "make test   - the whole test suite"
	@echo "make bench  - benchmarks (tests/benchmarks) as a table; ONLY=<name> runs one"
	@echo "make lint   - ruff check and format check"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(DEVSTACK) run

test: $(STAMP)
	$(DEVSTACK) --data-dir .devdata/test exec -- $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	@$(DEVSTACK) --data-dir .devdata/bench exec -- $(PY) -m tests.benchmarks $(ONLY)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

check-migrations: $(STAMP)
	DJANGO_SETTINGS_MODULE=portal.settings.test $(PY) manage.py makemigrations --check --dry-run

# Production-like smoke test (deploy/smoke.py): gunicorn, a Celery worker and beat against the
# PostgreSQL and Redis of DATABASE_URL / CELERY_BROKER_URL (embedded ones when unset).
smoke: $(STAMP)
	$(DEVSTACK) --data-dir .devdata/smoke exec -- $(PY) deploy/smoke.py

# Deploy files without a container engine: compose and Kubernetes schemas, hadolint, and
# `check --deploy` under deploy/env.example's production environment.
deploy-check: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/deploy/test_deploy_files.py tests/deploy/test_check_deploy.py

clean:
	rm -rf $(VENV) .devdata staticfiles

# One PostgreSQL with up to 10,000 client schemas (tests/benchmarks/scale.py): migration, catalog,
# backend memory, provisioning, staff pages and the fleet fan-out. Opt-in and long: not in `test`
# or `bench`. SCALE_CLIENTS=1000 for a shorter run; figures in deploy/README.md ("Scale").
bench-scale: $(STAMP)
	$(DEVSTACK) --data-dir .devdata/bench-scale exec -- $(PY) -m tests.benchmarks.scale
