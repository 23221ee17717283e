# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# torch is pinned and installed before the package so pip takes the local CPU wheel
# instead of resolving a multi-gigabyte CUDA build.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-output

.PHONY: install test test-all test-spark bench demo lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# Everything, the slow statistical and end-to-end tests included.
test-all: $(STAMP)
	$(PY) -m pytest -q -m ""

# The SQL jobs on Spark (local[2]) against DuckDB: golden files, edge cases, 200k simulated
# rows. Installs the spark extra (pyspark from PyPI; Java 17+ must be on the machine).
test-spark: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,spark]"
	$(PY) -m pytest -q -m spark

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	@set -e; for script in benchmarks/bench_*.py; do \
		echo "== $$script"; $(PY) $$script; \
	done

# Style (ruff) and the import contracts of pyproject.toml's [tool.importlinter]: the package
# layers, and no torch under offline_rl.data or offline_rl.evaluation.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

demo: $(STAMP)
	$(PY) -m offline_rl.demo --out $(DEMO)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
