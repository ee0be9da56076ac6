PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest schema bench clean

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
	$(BIN)/mypy domain auth

pytest: $(STAMP)
	$(BIN)/pytest -q

## Export the served GraphQL schema to schema.graphql.
schema: $(STAMP)
	$(BIN)/python -m api.schema_export > schema.graphql

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .incidentdesk .pytest_cache .mypy_cache .ruff_cache
