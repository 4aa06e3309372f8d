# releaf-pipeline: every target sets up its own virtualenv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DAGSTER_HOME ?= $(CURDIR)/.releaf
PYTEST_ARGS ?= -n 2
export DAGSTER_HOME

.PHONY: demo demo-headless test lint format bench bench-quick ui daemon clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (see README)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## demo: simulator over HTTPS, register, collect last month and this month, summary, Dagster UI
demo: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/releaf demo $(DEMO_ARGS)

## demo-headless: the same, stopping after the summary
demo-headless: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/releaf demo --no-ui

## test: lint, then the whole suite (installs the Debian packages it uses when root)
test: $(BIN)/.installed
	bash scripts/os-packages.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: collection, backfill and accounting benchmarks against the simulator; prints JSON
## (also written to benchmarks/results/latest.json). bench-quick: smaller sizes, extrapolated
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-quick: $(BIN)/.installed
	$(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)

## ui / daemon: run unattended on the same DAGSTER_HOME
ui: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster-webserver -h 127.0.0.1 -p 3000 -w workspace.yaml

daemon: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster-daemon run -w workspace.yaml

clean:
	rm -rf $(VENV) .releaf .pytest_cache .ruff_cache
