# Every target sets up what it needs first (scripts/bootstrap.sh is idempotent and quick on re-runs).
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest

.PHONY: setup demo up test test-timescale test-reliability lint bench clean

setup:
	@bash scripts/bootstrap.sh

## The main job: databases, migrations, simulator, every DAG once end-to-end, then what landed.
demo: setup
	$(PY) -m scripts.demo

## Airflow standalone + simulator + webhook service, for clicking through the UI (Ctrl-C stops all).
up: setup
	$(PY) -m scripts.up

## The test suite on the local PostgreSQL + PostGIS. Exit code 5 (no tests collected) is a failure.
test: setup
	@$(PYTEST) -q --ignore=tests/reliability $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

## The reliability suite (tests/reliability: faults end to end, fuzzing, bad settings), then docs/RELIABILITY.md
## from the figures it recorded (rendered even when a test fails, so the document shows which).
RELIABILITY_FIGURES ?= build/reliability/figures.jsonl
test-reliability: setup
	@rm -f $(RELIABILITY_FIGURES); \
	FLEET_RELIABILITY_FIGURES=$(RELIABILITY_FIGURES) $(PYTEST) -q tests/reliability $(PYTEST_ARGS); rc=$$?; \
	FLEET_RELIABILITY_FIGURES=$(RELIABILITY_FIGURES) $(PY) -m tests.reliability.render || exit 1; \
	if [ $$rc -eq 5 ]; then echo "make test-reliability: pytest collected no tests" >&2; exit 1; fi; exit $$rc

## The database tests against a real TimescaleDB (PostgreSQL 17 in a Debian 13 chroot, cached in /opt).
test-timescale: setup
	bash scripts/timescale_lane.sh test

lint: setup
	$(VENV)/bin/ruff check .

## Benchmarks (never timed tests): results in bench/results.json. BENCH_ARGS=--quick for a small size.
bench: setup
	@for b in bench/bench_*.py; do m=$$(basename $$b .py); echo "== $$m"; $(PY) -m bench.$$m $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf .airflow .pytest_cache .ruff_cache build *.egg-info
