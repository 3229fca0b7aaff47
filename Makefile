# Two commands do everything on a fresh machine with Python 3.11+, git and make:
#   make demo   set up .venv and run the whole product locally (no AWS account)
#   make test   set up .venv, lint, and run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench model events lock clean

install: $(STAMP)

# Python 3.11+ first, in words; a .venv left by an older Python is made anew, not reused.
NEEDS_311 := import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'this project needs Python 3.11 or newer, found ' + sys.version.split()[0] + ': run make PYTHON=python3.11 (or newer)')

$(STAMP): requirements/dev.txt requirements/sam.txt requirements/mlserver.txt pyproject.toml
	@$(PYTHON) -c "$(NEEDS_311)"
	@if test -x $(BIN)/python && ! $(BIN)/python -c "$(NEEDS_311)" 2>/dev/null; then rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	test -x $(VENV)/sam/bin/python || $(PYTHON) -m venv $(VENV)/sam
	$(VENV)/sam/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/sam.txt
	test -x $(VENV)/mlserver/bin/python || $(PYTHON) -m venv $(VENV)/mlserver
	$(VENV)/mlserver/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/mlserver.txt
	touch $(STAMP)

demo: install
	$(BIN)/python -m amex_scoring.demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench.run

# The committed model: synthetic data, fixed seeds (amex_scoring/synthetic_model.py). See model/README.md.
model: install
	$(BIN)/python -m amex_scoring.synthetic_model --out model

events: install
	$(BIN)/python -c "from amex_scoring.events import write_events; write_events('events')"

# Regenerate the pinned, hashed requirement files from pyproject.toml.
lock: install
	# SciPy: a dependency of the xgboost package, which the runtime never imports (it calls
	# libxgboost through ctypes); 143 MB the image does without. The image installs with --no-deps.
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 \
		--no-emit-package scipy --custom-compile-command "make lock" -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -q -o requirements/dev.txt
	$(BIN)/uv pip compile requirements/sam.in --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -q -o requirements/sam.txt
	$(BIN)/uv pip compile requirements/mlserver.in --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -q -o requirements/mlserver.txt
	$(BIN)/uv pip compile requirements/lambda-runtime.in --generate-hashes --universal --python-version 3.12 \
		--custom-compile-command "make lock" -q -o requirements/lambda-runtime.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
