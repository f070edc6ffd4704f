SHELL := /bin/bash
# CleanOps: `make run` sets up and runs the sample pipelines on the embedded PostgreSQL;
# `make test` sets up and runs the tests; `make dev` starts the Dagster UI and daemon.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser run test test-external dev bench fuzz db-start db-stop clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The seed pipeline reads `prod-user-db`: a sample database on the CleanOps server.
SAMPLE_SOURCE = CLEANOPS_CONN_PROD_USER_DB="$$($(BIN)/python -m cleanops.samples.prepare --print-url)"
# The weekly summary reads `analytics-dw`: the CleanOps warehouse itself. Scheduled pipelines
# whose connections `make dev` does not provide ship with their schedule off.
WAREHOUSE_SOURCE = CLEANOPS_CONN_ANALYTICS_DW="$$(eval "$$($(BIN)/cleanops env)" && echo "$$CLEANOPS_WAREHOUSE_URL")"

run: install
	$(BIN)/cleanops db start
	$(BIN)/cleanops pipelines validate
	$(BIN)/python -m cleanops.transform.prepare
	$(SAMPLE_SOURCE) $(BIN)/cleanops pipelines run user-data-etl-001
	$(BIN)/cleanops pipelines run orders-csv-001
	$(BIN)/cleanops quality report user-data-etl-001
	$(BIN)/cleanops status

# The browser test drives Debian's Chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  else echo "The browser test needs Chromium; as root run: apt-get update && apt-get install -y chromium" >&2; fi; }

test: install browser
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	@if [ -n "$$CLEANOPS_TEST_POSTGRES_URL" ]; then \
	  echo "== server_matrix tests against $$CLEANOPS_TEST_POSTGRES_URL (as CLEANOPS_DATABASE_URL) and MariaDB =="; \
	  CLEANOPS_TEST_TARGET=server $(BIN)/python -m pytest -v -p no:cacheprovider -m server_matrix $(PYTEST_ARGS); fi

dev: install
	$(BIN)/python -m cleanops.transform.prepare
	$(SAMPLE_SOURCE) $(WAREHOUSE_SOURCE) $(BIN)/cleanops dev

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The property-based (hypothesis) tests with many more examples than `make test` runs.
fuzz: install
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q -p no:cacheprovider -k properties $(PYTEST_ARGS)

db-start: install
	$(BIN)/cleanops db start

db-stop: install
	$(BIN)/cleanops db stop

clean:
	-$(BIN)/cleanops db stop
	rm -rf .cleanops
