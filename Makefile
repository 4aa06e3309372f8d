# releaf-pipeline: every target sets up its own virtualenv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DAGSTER_HOME ?= $(CURDIR)/.releaf
# The Dagster UI's port for demo, ui and dev: `make demo PORT=3001`.
PORT ?= 3000
# One worker per core: the suite is bound by its CPU, not by its waits.
PYTEST_ARGS ?= -n 2 --dist worksteal
export DAGSTER_HOME

.PHONY: demo demo-headless test test-fast lint format bench bench-quick ui daemon dev clean settings-table

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (see README)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The instance config is copied only when DAGSTER_HOME has none: an operator's own (say, on
# Postgres) is never overwritten; when it differs from the repository's, that is said.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

.PHONY: instance
instance: $(DAGSTER_HOME)/dagster.yaml
	@cmp -s dagster.yaml $(DAGSTER_HOME)/dagster.yaml || echo "note: $(DAGSTER_HOME)/dagster.yaml differs from the repository's dagster.yaml and is kept as it is"

## demo: simulator over HTTPS, register, collect last month and this month, summary, then the
## Dagster UI with the daemon on PORT
demo: $(BIN)/.installed instance
	$(BIN)/releaf demo --port $(PORT) $(DEMO_ARGS)

## demo-headless: the same, stopping after the summary
demo-headless: $(BIN)/.installed instance
	$(BIN)/releaf demo --no-ui

## test-fast: lint and the layer contracts, then everything but the end-to-end tests
## (installs the Debian packages the tests use when root)
test-fast: lint
	bash scripts/os-packages.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not e2e"

## test: test-fast, then the end-to-end tests: the whole suite
test: test-fast
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m e2e

## lint: ruff (style, and complexity at most 12) and the import-linter layer contracts
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## settings-table: write the settings table, rendered from the settings model, into
## docs/operating.md
settings-table: $(BIN)/.installed
	$(BIN)/python scripts/settings_table.py

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: collection, backfill and accounting benchmarks against the simulator; prints JSON
## (also written to benchmarks/results/latest.json). bench-quick: smaller sizes, extrapolated
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-quick: $(BIN)/.installed
	$(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)

## ui / daemon: run unattended on the same DAGSTER_HOME; dev: both in one command (dg dev);
## the UI on PORT
ui: $(BIN)/.installed instance
	$(BIN)/dagster-webserver -h 127.0.0.1 -p $(PORT) -w workspace.yaml

daemon: $(BIN)/.installed instance
	$(BIN)/dagster-daemon run -w workspace.yaml

dev: $(BIN)/.installed instance
	$(BIN)/dg dev -h 127.0.0.1 -p $(PORT)

clean:
	rm -rf $(VENV) .releaf .pytest_cache .ruff_cache
