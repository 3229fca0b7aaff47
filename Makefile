# Two commands do everything on a fresh machine with Python 3.11+, git and make:
#   make demo   set up .venv and run the whole product locally (no AWS account)
#   make test   set up .venv, lint, and run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench model events lock clean

install: $(STAMP)

$(STAMP): requirements/dev.txt requirements/sam.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	test -x $(VENV)/sam/bin/python || $(PYTHON) -m venv $(VENV)/sam
	$(VENV)/sam/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/sam.txt
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

# The committed model: synthetic data, fixed seeds. See model/README.md.
model: install
	$(BIN)/amex-scoring synth --customers 30000 --seed 1 --out data/train.parquet --labels data/train_labels.csv
	$(BIN)/amex-scoring train --data data/train.parquet --labels data/train_labels.csv --out model --seed 42 \
		--model-version 1.0.0-synthetic \
		--note "synthetic AmEx-layout data (amex-scoring synth --customers 30000 --seed 1); not a real credit model"

events: install
	$(BIN)/python -c "from amex_scoring.events import write_events; write_events('events')"

# Regenerate the pinned, hashed requirement files from pyproject.toml.
lock: install
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -q -o requirements/dev.txt
	$(BIN)/uv pip compile requirements/sam.in --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -q -o requirements/sam.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
