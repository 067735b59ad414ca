# PromptVault: `make run` sets up and starts the app, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501
export LITELLM_LOCAL_MODEL_COST_MAP := True
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false

.PHONY: run test setup bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/promptvault init
	@if [ "$(DEMO)" != 0 ]; then $(BIN)/promptvault demo --if-empty || true; fi  # examples in an empty project; DEMO=0 skips
	$(BIN)/promptvault serve --port $(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/versioning.py
	$(BIN)/python benchmarks/vault.py
	$(BIN)/python benchmarks/runner.py
	$(BIN)/python benchmarks/analytics.py
	$(BIN)/python benchmarks/scoring.py

clean:
	rm -rf $(VENV) .pytest_cache
