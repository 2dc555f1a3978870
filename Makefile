# femvalid: `make demo` runs the example study, `make test` the test suite.
# Both set themselves up (system libraries, virtual environment, package) and
# are safe to run again.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.femvalid-installed

.PHONY: demo test setup syslibs clean

demo: setup
	$(BIN)/femvalid demo --force

test: setup
	$(BIN)/python -m pytest

# Performance against SfePy (15-40 minutes on 2 cores); BENCH_ARGS="--sizes small" for a smoke test.
.PHONY: bench
bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

setup: $(STAMP)

# Re-install whenever the package metadata changes.
$(STAMP): pyproject.toml scripts/ensure-syslibs.sh
	PYTHON="$(PYTHON)" sh scripts/ensure-syslibs.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,viewer]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
