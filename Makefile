# Quick start: `make run` builds the default routine into output/, `make test` runs every
# test. Both create the virtual environment first when it is missing (only Python 3.11+
# and make are needed: espeak-ng and ffmpeg come from wheels).

# The first Python 3.11+ on PATH.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
OUT ?= output

.PHONY: run test lint bench clean

$(READY): pyproject.toml
	@test -n "$(PYTHON)" || { echo "voiceguide needs Python 3.11 or newer on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,piper]'
	@touch $(READY)

run: $(READY)
	$(BIN)/voiceguide build --out $(OUT)

test: $(READY)
	$(BIN)/python -m pytest

lint: $(READY)
	$(BIN)/ruff check voiceguide tests bench
	$(BIN)/mypy

bench: $(READY)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
