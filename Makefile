# The two commands of the README: `make demo` and `make test`. Each runs the
# idempotent set-up first (Debian packages, bpffs/tracefs, .venv).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint unit clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/alveole doctor
	$(BIN)/alveole demo

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: setup lint
	$(BIN)/pytest -q

unit: setup
	$(BIN)/pytest -q tests/unit

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
