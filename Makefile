# The two commands of README: `make run` (the local stack and every function) and
# `make test` (checks, then the whole suite against the real emulators).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := functions/venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check bench fuzz clean

$(STAMP): requirements.txt functions/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(STAMP)

run: install
	$(BIN)/firewatch dev

check: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/check

test: check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

fuzz: install
	FIREWATCH_FUZZ_EXAMPLES=$${FIREWATCH_FUZZ_EXAMPLES:-2000} $(BIN)/python -m pytest -m slow tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
