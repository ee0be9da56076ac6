PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-busy lint typecheck pytest schema bench bench-install wrk clean chromium redis

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the demo on 127.0.0.1:8000 with an embedded PostgreSQL unless INCIDENTDESK_DATABASE_URL is set.
run: $(STAMP)
	$(BIN)/incidentdesk demo
	$(BIN)/incidentdesk serve

## The whole suite: lint, types, tests.
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy domain auth api

# Test files run in parallel, each whole on one worker (its module-scoped database and server stay
# together). No test is ever retried: one that fails once fails the run.
PYTEST_WORKERS ?= 2

pytest: $(STAMP) chromium redis
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

## The whole suite on a busy machine: two CPU-bound loops run beside it for its whole length.
test-busy: $(STAMP) chromium
	@$(BIN)/python -c 'while True: pass' & one=$$!; \
	$(BIN)/python -c 'while True: pass' & two=$$!; \
	trap 'kill $$one $$two 2>/dev/null' EXIT INT TERM; \
	$(MAKE) --no-print-directory test

## Headless Chromium for the status page's browser test: Debian's package, installed when missing (as root).
CHROMIUM ?= /usr/bin/chromium

chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "$(CHROMIUM) is missing: install Debian's chromium package as root (apt-get install chromium)" >&2; \
		exit 1; \
	fi

## redis-server for the test of the replicas' shared rate limit (tests/deploy/): Debian's package,
## installed when missing (as root).
REDIS_SERVER ?= /usr/bin/redis-server

redis:
	@if [ -x "$(REDIS_SERVER)" ] || command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; \
	else \
		echo "redis-server is missing: install Debian's redis-server package as root (apt-get install redis-server)" >&2; \
		exit 1; \
	fi

## Export the served GraphQL schema to schema.graphql.
schema: $(STAMP)
	$(BIN)/python -m api.schema_export > schema.graphql

## Every benchmark in bench/ at modest sizes (~15 minutes on 2 cores; generated data is kept in
## .incidentdesk/bench for the next run). Full sizes, e.g.:
##   make bench READ_PATH_ARGS="--incidents 10000000 --scale-large 10000000"
BENCH_STAMP := $(VENV)/.bench-installed
READ_PATH_ARGS ?= --scale-large 1000000
WRITE_PATH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench-install: $(BENCH_STAMP)

bench: $(BENCH_STAMP) wrk
	@echo "== bench/sla_clock.py"; $(BIN)/python bench/sla_clock.py
	@echo "== bench/subscribers.py"; $(BIN)/python bench/subscribers.py
	@echo "== bench/read_path.py"; $(BIN)/python bench/read_path.py $(READ_PATH_ARGS)
	@echo "== bench/write_path.py"; $(BIN)/python bench/write_path.py $(WRITE_PATH_ARGS)
	@echo "== bench/soak.py"; $(BIN)/python bench/soak.py $(SOAK_ARGS)

## wrk drives the HTTP benchmarks when present (Debian's package, installed when missing as root);
## without it they use their own Python load generator.
wrk:
	@if command -v wrk >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk) \
		|| echo "wrk could not be installed: the benchmarks use their Python load generator" >&2; \
	else \
		echo "wrk is not installed: the benchmarks use their Python load generator" >&2; \
	fi

clean:
	rm -rf $(VENV) .incidentdesk .pytest_cache .mypy_cache .ruff_cache
