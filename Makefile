# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# torch is pinned and installed before the package so pip takes the local CPU wheel
# instead of resolving a multi-gigabyte CUDA build.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-output

.PHONY: install test test-all test-browser test-spark bench bench-nightly demo lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# A nightly run's report.html opened in headless Chromium (Debian's `chromium`, installed
# here when missing; CI runs as root). Without the browser the test fails here, while plain
# `make test` skips it.
test-browser: $(STAMP)
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	OFFLINE_RL_BROWSER_TEST=required $(PY) -m pytest -q tests/nightly/test_report_browser.py

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

# The nightly job end to end at 1M events (wall, CPU and peak RSS per step; BENCHMARKS.md).
bench-nightly: $(STAMP)
	$(PY) benchmarks/bench_nightly.py

# Style (ruff) and the import contracts of pyproject.toml's [tool.importlinter]: the package
# layers, and no torch under offline_rl.data or offline_rl.evaluation.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

demo: $(STAMP)
	$(PY) -m offline_rl.demo --out $(DEMO)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
