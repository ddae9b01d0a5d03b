# qtrade: `make demo` installs and runs the main job; `make test` installs and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.qtrade-installed
# On a machine without CUDA, torch 2.13.0's CPU build is taken; elsewhere set TORCH_PIP_ARGS, for example
# to PyTorch's CPU wheel index, so that pip does not pull the multi-GB CUDA build.
TORCH_PIP_ARGS ?=
OUT ?= runs/demo

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
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

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
