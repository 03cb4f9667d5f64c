# Two commands matter: `make run` (the product with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/userops
# Benchmarks fill a database of their own (a million members), kept apart from the one the product uses.
BENCH_URL ?= postgres://postgres@127.0.0.1:5432/userops_bench
PG_PROBE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run test test-app-role test-pgbouncer test-replica lint format bench bench-quick loadtest setup demo messages clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements/base.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt -r requirements/dev.txt
	touch $@

messages: $(VENV)/.installed
	@if find apps locale -name '*.po' 2>/dev/null | grep -q .; then \
		$(BIN)/python manage.py compilemessages --ignore=.venv --verbosity 0; fi

setup: messages
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py setup_periodic_tasks

demo: setup
	$(BIN)/python manage.py load_demo

# On a laptop no SMS or push provider is set up: their messages are written to the log (shown as development only).
run: demo
	@$(BIN)/python manage.py describe_run
	USEROPS_MESSAGE_CHANNEL_PROVIDERS="$${USEROPS_MESSAGE_CHANNEL_PROVIDERS:-sms=log,push=log,email=email}" \
		PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# The suite runs on PostgreSQL whenever it is reachable (always in CI), else on SQLite. Tests that start a
# real Celery worker run afterwards against Redis, one module per process (each starts its own workers).
PYTEST_WORKERS ?= 2
TEST_BROKER_URL ?= redis://127.0.0.1:6379/2
test: messages
	@if [ -z "$$DATABASE_URL" ] && $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_PROBE_URL)', connect_timeout=2).close()" 2>/dev/null; then \
		export DATABASE_URL="$(PG_URL)"; echo "Tests on PostgreSQL ($(PG_URL))"; \
	else echo "Tests on $${DATABASE_URL:-SQLite}"; fi; \
	CELERY_BROKER_URL=memory:// $(BIN)/pytest -n $(PYTEST_WORKERS) -m "not celery_worker" $(PYTEST_ARGS) && \
	for module in $$(grep -rl "mark.celery_worker" tests --include='test_*.py' | sort); do \
		CELERY_BROKER_URL=$(TEST_BROKER_URL) USEROPS_TEST_CELERY_BROKER=$(TEST_BROKER_URL) \
			$(BIN)/pytest -m celery_worker $(PYTEST_ARGS) $$module || exit 1; \
	done

# The concurrency, ledger and reconcile tests again, connected as the application's least-privileged database
# role (the owner creates and migrates the test database): the books hold without superuser powers.
APP_ROLE_TESTS := $(wildcard tests/*/test_concurrency.py) tests/members/test_services.py::TestPoints tests/members/test_reconcile.py tests/core/test_app_db_role.py tests/members/test_anonymisation_leaves_nothing.py
test-app-role: messages
	USEROPS_TEST_APP_ROLE=1 DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} CELERY_BROKER_URL=memory:// \
		$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not celery_worker" $(PYTEST_ARGS) $(APP_ROLE_TESTS)

# The concurrency and idempotency tests again, through a real PgBouncer in transaction pooling mode (as production
# runs): nothing may rely on session state. PgBouncer is (re)started first so the test database can be made afresh.
PGBOUNCER_PORT ?= 6432
POOLED_TESTS := $(wildcard tests/*/test_concurrency.py) tests/core/test_pooling.py tests/members/test_api.py tests/benefits/test_api.py
test-pgbouncer: messages
	bash .ci/pgbouncer.sh $(PGBOUNCER_PORT)
	DATABASE_URL=postgres://postgres@127.0.0.1:$(PGBOUNCER_PORT)/userops_pooled DATABASE_POOLED=1 USEROPS_PGBOUNCER_PORT=$(PGBOUNCER_PORT) \
		CELERY_BROKER_URL=memory:// $(BIN)/pytest --create-db --reuse-db -n $(PYTEST_WORKERS) -m "not celery_worker" $(PYTEST_ARGS) $(POOLED_TESTS)

# The read-routing tests against a real streaming replica of the local PostgreSQL (a second cluster on
# REPLICA_PORT, made by pg_basebackup and removed afterwards).
REPLICA_PORT ?= 5433
test-replica: messages
	bash .ci/replica.sh $(REPLICA_PORT)
	status=0; DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} DATABASE_REPLICA_URLS=postgres://postgres@127.0.0.1:$(REPLICA_PORT)/userops \
		USEROPS_TEST_REPLICA_PORT=$(REPLICA_PORT) CELERY_BROKER_URL=memory:// \
		$(BIN)/pytest -p no:xdist $(PYTEST_ARGS) tests/core/test_replicas.py || status=$$?; \
	bash .ci/replica.sh $(REPLICA_PORT) stop; exit $$status

# The browser tests, writing the README's screenshots to docs/screenshots/ as well.
screenshots: messages
	USEROPS_README_SCREENSHOTS=1 CELERY_BROKER_URL=memory:// DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} \
		$(BIN)/pytest tests/e2e -m "not celery_worker" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_URL)} $(BIN)/python -m bench.run --size full

bench-quick: setup
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_URL)} $(BIN)/python -m bench.run --size quick

# Redeem-heavy load on gunicorn (loopback, PostgreSQL) with locust for 3 minutes, then reconcile_points; see docs/security.md.
loadtest: setup
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_URL)} $(BIN)/python -m bench.loadtest.run --minutes $${LOADTEST_MINUTES:-3}
