# check_smtp_helo: make demo | make test | make lint | make fuzz | make bench
#
# PYTHON builds .venv. The project is installed into it (not in editable mode), so the
# tests run the console script exactly as an administrator's installation would.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SOURCES := setup.cfg pyproject.toml $(wildcard check_smtp_helo/*.py)

.PHONY: demo test lint fuzz bench clean

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '.[test]'
	touch $@

## make demo: start a local SMTP server, run the check against it, show output and exit code
demo: $(STAMP)
	$(BIN)/python tests/demo.py

## make test: the whole suite (behaviour, command line, integration with the real engines)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make fuzz: the long property-test profile (thousands of examples)
fuzz: $(STAMP)
	FUZZ_PROFILE=long $(BIN)/python -m pytest -q -m fuzz tests/test_fuzz.py

## make bench: cost per check, timing accuracy and memory, against budgets
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
