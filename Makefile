# payhook: `make run` starts the whole pipeline on this machine, `make test` runs every check.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
DEMO_ENV := deploy/demo.env

.PHONY: install services run migrate test lint typecheck unit bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

services:
	./scripts/services.sh

migrate: install services
	set -a && . ./$(DEMO_ENV) && set +a && $(BIN)/payhook migrate

# Schema migrated, then web (port 8000), worker and beat under honcho, reading the Procfile.
run: migrate
	set -a && . ./$(DEMO_ENV) && set +a && PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile web worker beat

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -m "not integration"

test: install services lint typecheck
	$(BIN)/pytest -q

bench: install services
	$(BIN)/python -m scripts.bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
