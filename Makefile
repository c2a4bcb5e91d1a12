# The README's two commands: `make run` (set up, start the TUI) and `make test` (set up, run every test).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# This machine's CPU wheel; GPU boxes install their CUDA torch first (see README), then `make run`.
TORCH_PIN ?= torch==2.13.0

.PHONY: setup run test lint typecheck system-deps demo-model

$(BIN)/imageworks: pyproject.toml imageworks/scan/_listdir.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_PIN)" -e ".[dev,ray,heic]"
	touch $@

setup: $(BIN)/imageworks

run: setup
	$(BIN)/imageworks tui

# The demo model ships built (daemon/demo_model/shipped/); rebuild it from its fixed seed after a prompt change.
demo-model: setup
	$(BIN)/python -m imageworks.daemon.demo_model.ship

# exiftool is the independent reader the metadata tests check against; tmux drives the TUI's key flows; socat and
# openssh forward the daemon's sockets in the remote tests (`imageworks --ssh` through a real sshd).
system-deps:
	@for tool in exiftool tmux socat ssh sshd; do command -v $$tool >/dev/null || test -x /usr/sbin/$$tool || missing=1; done; \
	  test -z "$$missing" || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    libimage-exiftool-perl tmux socat openssh-client openssh-server; }
	@# the scan's C lister is built at install (tests/test_scan_listdir.py checks it was): a compiler, Python's headers
	@command -v cc >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q build-essential; }
	@$(PY) -c "import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-dev; }

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# mypy over imageworks (daemon/ and tui/ through their links), tests and bench, as [tool.mypy] in pyproject.toml says
typecheck: setup
	$(BIN)/python -m mypy

# pytest exit 5 (no tests collected) is a failure here, not a pass. The tests run in TEST_WORKERS processes, a file
# to each at a time (its module fixtures, the Ray cluster, stay in one process): each test has its own XDG dirs,
# daemon and ports, and most of a test's time is a daemon's start or a wait, so 2 on 2 cores halve the suite's time.
TEST_WORKERS ?= 2
test: system-deps setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
