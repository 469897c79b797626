# gridoracle: `make demo` and `make test` work on a fresh machine (they create .venv first).

SHELL := /bin/bash
.DEFAULT_GOAL := help
export PIP_NO_INPUT := 1

VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
# pip install runs again only when pyproject.toml is newer than this file
STAMP := $(VENV)/.installed-dev

# A fresh clone may lack an empty folder: lint the ones that exist (ruff lints and formats the
# notebooks' code cells too).
LINT_PATHS := $(wildcard src tests benchmarks examples notebooks)

# The interpreter that creates .venv: python3.12 when it runs (directly, or as a pyenv shim with a
# 3.12 version installed), else python3. Override with `make PYTHON=/path/to/python test`.
PYTHON ?= $(shell \
	if python3.12 --version >/dev/null 2>&1; then echo python3.12; exit 0; fi; \
	if command -v pyenv >/dev/null 2>&1; then \
		for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | sort -rV); do \
			if PYENV_VERSION=$$v python3.12 --version >/dev/null 2>&1; then \
				echo "env PYENV_VERSION=$$v python3.12"; exit 0; \
			fi; \
		done; \
	fi; \
	echo python3)

.PHONY: help venv install lint typecheck test test-all demo bench clean

help:
	@echo "make demo      create .venv, install, run the pipeline on l2rpn_case14_sandbox (report.html)"
	@echo "make test      create .venv, install, then ruff, mypy and pytest (slow tests excluded)"
	@echo "make test-all  the same with the slow tests"
	@echo "make bench     run benchmarks/bench_generate.py, bench_oracle.py and bench_scale.py"
	@echo "make clean     remove caches and build files (keeps .venv, data/ and results/)"

$(PY):
	@echo "creating $(VENV) with: $(PYTHON)"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"gridoracle needs Python >= 3.11; found " + sys.version.split()[0] + \
		": run make PYTHON=/path/to/python3.11+")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	@touch $(STAMP)

venv install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy src/gridoracle

# pytest exits 5 when it collects no test: not a failure here.
PYTEST = rc=0; $(PY) -m pytest $(1) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

test: lint typecheck
	@$(call PYTEST,)

test-all: lint typecheck
	@$(call PYTEST,-m "")

# generate -> split by chronic -> train and evaluate the zoo -> figures -> Oracle on chronic 0 ->
# results/report.html; ends with the leaderboard and the report's path. Cached: a second run takes
# seconds (the Oracle's episode length defaults to --max-steps, 575).
demo: $(STAMP)
	$(BIN)/gridoracle run --env l2rpn_case14_sandbox --chronics all --actions 100 \
		--out results/ --data-out data/ \
		--oracle-actions examples/actions/l2rpn_case14_sandbox/reference.json \
		--oracle-config examples/config.ini --oracle-chronic 0

bench: $(STAMP)
	$(PY) benchmarks/bench_generate.py
	$(PY) benchmarks/bench_oracle.py
	$(PY) benchmarks/bench_scale.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis src/*.egg-info
	find src tests benchmarks -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
