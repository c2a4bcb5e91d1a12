# The README's two commands: `make run` (set up, start the TUI) and `make test` (set up, run every test).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# This machine's CPU wheel; GPU boxes install their CUDA torch first (see README), then `make run`.
TORCH_PIN ?= torch==2.13.0

.PHONY: setup run test lint system-deps

$(BIN)/imageworks: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_PIN)" -e ".[dev,ray]"
	touch $@

setup: $(BIN)/imageworks

run: setup
	$(BIN)/imageworks tui

# exiftool is the independent reader the metadata tests check against; tmux drives the TUI smoke test.
system-deps:
	@command -v exiftool >/dev/null && command -v tmux >/dev/null || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libimage-exiftool-perl tmux; }

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# pytest exit 5 (no tests collected) is a failure here, not a pass.
test: system-deps setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
