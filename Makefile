# The README's commands. `make demo` and `make test` set up the virtual environment first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean reliability chromium

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so that nothing pulls a GPU build in.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/trustq demo

test: setup lint chromium
	$(VENV)/bin/pytest -n 2 --dist loadfile --durations=15

# The review console's browser tests drive Debian's Chromium (Playwright's own download
# cannot work here); installed when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The fault trials, the hostile input and the load run, then their counts into
# docs/reliability.md. LOAD_N=2000 for a quick run; LOAD_N=0 skips the load run.
RELIABILITY := .trustq/reliability
LOAD_N ?= 20000
reliability: setup
	rm -rf $(RELIABILITY) && mkdir -p $(RELIABILITY)
	TRUSTQ_TEST_RELIABILITY_DIR=$(RELIABILITY) $(VENV)/bin/pytest tests/faults tests/hostile; \
	status=$$?; \
	if [ "$(LOAD_N)" != 0 ]; then \
	  $(PY) benchmarks/load.py --n $(LOAD_N) --out $(RELIABILITY)/load.json || status=1; \
	fi; \
	$(PY) benchmarks/reliability_table.py $(RELIABILITY) --update docs/reliability.md; \
	exit $$status

# The throughput suite (needs PostgreSQL and Redis; about half an hour on two cores): figures
# into benchmarks/results/throughput.json and docs/benchmarks.md. BENCH_ARGS=--quick checks
# that it runs.
bench: setup
	$(PY) -m benchmarks.suite $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .trustq
