# Two set-up commands for a fresh clone: `make demo` and `make test`. Each creates or updates .venv itself.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= python3
# -n auto: the suite is mostly waiting on loopback HTTP, so two workers on two cores pay off.
PYTEST_ARGS ?= -n auto

.PHONY: demo test lint lab bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tyk-migrate demo --out demo-output

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check tyk_migrate tests benchmarks
	$(VENV)/bin/ruff format --check tyk_migrate tests benchmarks
	$(VENV)/bin/mypy

lab: $(STAMP)
	$(VENV)/bin/tyk-migrate lab

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
