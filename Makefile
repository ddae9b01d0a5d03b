# qtrade: `make demo` installs and runs the main job; `make test` installs and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.qtrade-installed
# On a machine without CUDA, torch 2.13.0's CPU build is taken; elsewhere set TORCH_PIP_ARGS, for example
# to PyTorch's CPU wheel index, so that pip does not pull the multi-GB CUDA build.
TORCH_PIP_ARGS ?=
OUT ?= runs/demo

.PHONY: install demo test test-fast lint format upgrade bench clean

install: $(STAMP)

# the versions in constraints.txt, which the tests last passed with
$(STAMP): pyproject.toml constraints.txt
	@bash scripts/install.sh "$(PYTHON)" "$(VENV)" "$(TORCH_PIP_ARGS)"
	@touch $(STAMP)

# forecast -> backtest (kelly) -> tearsheet on the embedded data; open $(OUT)/tearsheet.html
demo: install
	$(BIN)/qtrade data
	$(BIN)/qtrade backtest --strategy kelly --out $(OUT)

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# ruff (lint and format) and mypy, as CI runs them; `make format` applies ruff's fixes and format
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# the newest versions the project's ranges allow, in a fresh environment; constraints.txt is rewritten only when
# the tests pass with them
upgrade:
	rm -rf $(VENV)
	@QTRADE_UNCONSTRAINED=1 bash scripts/install.sh "$(PYTHON)" "$(VENV)" "$(TORCH_PIP_ARGS)"
	$(BIN)/python -m pytest
	$(BIN)/python scripts/freeze_constraints.py > constraints.txt.new && mv constraints.txt.new constraints.txt
	@touch $(STAMP)
	@echo "constraints.txt refreshed: review 'git diff constraints.txt' and commit it"

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
