# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
BIN    := $(VENV)/bin

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: demo test install install-dev lint typecheck contracts pytest bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.9,<0.14"

install: $(UV)  ## the runtime environment in .venv (keeps dev tools if present)
	$(UV) sync --frozen --inexact --python $(PYTHON)

install-dev: $(UV)  ## the runtime plus the dev tools
	$(UV) sync --frozen --extra dev --python $(PYTHON)

demo: install  ## create the bundled example in ./demo, run the whole loop on it, offline, and assess it
	$(BIN)/mlpilot quickstart demo --fresh
	$(BIN)/mlpilot assess demo --no-input --brief --html demo/.mlpilot/reports/maturity.html

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

pytest:
	$(BIN)/pytest

test: install-dev  ## every check: ruff, mypy, import contracts, pytest
	$(MAKE) --no-print-directory lint typecheck contracts pytest

bench: install  ## the pipeline and drift benchmarks (minutes; Evidently's venv: benchmarks/.venv-evidently)
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/drift.py

clean:
	rm -rf $(VENV) $(TOOLS) benchmarks/.venv-evidently demo .mypy_cache .ruff_cache .pytest_cache
