# The two set-up commands of the README. Each creates the virtual environment itself (in .venv) and installs
# everything from this project's own files; torch is pinned to the CPU wheel before anything can pull a CUDA build.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.lesionwatch-installed
DEMO_OUT ?= lesionwatch-demo

.PHONY: demo test test-fast lint env clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[pdf,dicom,cohort,web,dev]'
	@# headless Chromium for the browser end-to-end test (best effort: the test skips cleanly without it)
	-@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  apt-get install -y -q chromium >/dev/null 2>&1; } || echo "note: no chromium; the browser test will be skipped"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/lesionwatch --force demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# the unit tests without the end-to-end runs (tests marked slow, tests/integration, the browser test): minutes
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" --ignore=tests/integration --ignore=tests/web/test_e2e.py
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
