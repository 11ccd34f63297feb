# The two commands of the quick start are `make demo` and `make test`; everything else is here for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ENV := DATADOG_API_KEY=demo-datadog-api-key SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/demo

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("sharedconfig needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	@echo "== sharedconfig validate (the seed's production config, demo values for its two variables)"
	$(DEMO_ENV) $(BIN)/sharedconfig validate --profile production deploy/config/monitoring-production.yaml
	@echo "== sharedconfig show --explain"
	$(DEMO_ENV) $(BIN)/sharedconfig show --explain --profile production deploy/config/monitoring-production.yaml

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest --cov --cov-report=term -q

bench: install
	$(BIN)/python bench/config_load.py
	$(BIN)/python bench/import_time.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
