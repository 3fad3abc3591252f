# Two commands do all set-up: `make run` and `make test` create .venv from uv.lock
# on first use. uv itself is installed into .tools/ with the Python 3.10 interpreter
# that .python-version selects.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
PYTHON ?= $(shell command -v python3.10 2>/dev/null)
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.synced-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
BENCH_ARGS ?=

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help venv run dashboard test test-fast lint check-deploy schema lock clean bench

help:
	@echo "make run        - run the whole pipeline on data/ with LocalDagRunner (SQLite MLMD)"
	@echo "make dashboard  - write the last 30 days as one page: outputs/pipelines/clicks/dashboard.html"
	@echo "make test       - run the whole test suite (unit + e2e)"
	@echo "make test-fast  - run tests/unit (not e2e); root-only tests skip, saying why, unless root"
	@echo "make lint       - ruff (lint and format check) and mypy"
	@echo "make check-deploy - docker-compose config, promtool, amtool, kubernetes-validate, TF Serving protos"
	@echo "make schema     - infer a schema from the newest span and show the diff"
	@echo "make lock       - re-resolve uv.lock after editing pyproject.toml"
	@echo "make bench      - benchmarks: outputs/bench/results.{md,json} (BENCH_ARGS=--scale-1m adds the 1M-row day)"
	@echo "make clean      - remove outputs/ (runs, metadata, served models)"

$(UV):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "preflight: Python 3.10 was not found on PATH, and TFX 1.16 needs it (install it, e.g. 'pyenv install 3.10'; .python-version selects it)." >&2; \
	  exit 1; fi
	@$(PYTHON) pipeline/devtools/preflight.py interpreter
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(TOOLS) uv==$(UV_VERSION)

$(STAMP): $(UV)
	@$(PYTHON) pipeline/devtools/preflight.py interpreter
	$(UV) sync --locked --all-extras --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"
	@$(VPY) pipeline/devtools/preflight.py imports
	@rm -f $(VENV)/.synced-* && touch $@

venv: $(STAMP)

run: venv
	$(VPY) -m pipeline run

dashboard: venv
	$(VPY) -m pipeline dashboard

test: venv
	$(VPY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(VPY) -m pytest -m "not e2e" $(PYTEST_ARGS)

# Lint and type-check, as CI does (.ci/run). All three run, so one pass shows every
# finding; any finding fails the target. `ruff format` and `ruff check --fix` rewrite
# files; this target only checks. mypy's files are set in pyproject.toml.
LINT_PATHS := pipeline components dags tests
lint: venv
	@status=0; \
	$(VENV)/bin/ruff check $(LINT_PATHS) || status=1; \
	$(VENV)/bin/ruff format --check $(LINT_PATHS) || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

# The deployment files (docker-compose.yml, deploy/) checked by the tools that read
# them; as root, installs Debian's docker-compose, prometheus, prometheus-alertmanager.
check-deploy: venv
	$(VPY) -m pipeline.devtools.deploy_check

schema: venv
	$(VPY) -m pipeline schema

lock: $(UV)
	$(UV) lock --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"

bench: venv
	$(VPY) -m pipeline.devtools.bench $(BENCH_ARGS)

clean:
	rm -rf outputs
