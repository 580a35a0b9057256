# The two commands of README.md: `make run` and `make test`. Both install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -c1-12)

.PHONY: run test bench soak lint format install browser clean

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-virtualenv -r requirements.lock
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## Start the console on the embedded default (SQLite, no Redis) with demo data.
run: $(STAMP)
	bin/run-console

## The whole suite on PostgreSQL and Redis, browser tests included, then a smoke run on SQLite.
test: $(STAMP)
	bin/test

## Speed figures on PostgreSQL and Redis (gunicorn, DEBUG off): bench/results.json and a table.
bench: $(STAMP)
	bin/install-bench-tools
	$(BIN)/python bench/run.py

## Not in `make test` or CI: SOAK_SECONDS (600) of steady load, then 5xx, money drift, RSS growth.
soak: $(STAMP)
	bin/install-bench-tools
	$(BIN)/python bench/soak.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser:
	bin/install-chromium

clean:
	rm -rf var tests/flows/browser/screenshots
