# Quick start: `make run` builds the default routine into output/, `make test` runs every
# test. Both create the virtual environment first when it is missing (only Python 3.11+
# and make are needed: espeak-ng and ffmpeg come from wheels). `make run` installs only
# what building needs; `make test` adds the test tools (the `dev` extras) on top.

# The first Python 3.11+ on PATH.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
DEV := $(VENV)/.dev
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# voiceguide's bytecode, written even where PYTHONDONTWRITEBYTECODE is set (the package is
# installed editable, so Python would otherwise compile every module on every run: about
# 0.2 s of each command). Files already up to date are skipped.
COMPILE := $(BIN)/python -m compileall -q voiceguide
OUT ?= output

.PHONY: run test test-fast lint bench clean messages

# voiceguide and what it needs to build, nothing more.
$(READY): pyproject.toml
	@test -n "$(PYTHON)" || { echo "voiceguide needs Python 3.11 or newer on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[piper]'
	$(COMPILE)
	@touch $(READY)

# The test tools: the dev extras of pyproject.toml, added to the environment above
# (voiceguide itself is not installed again).
$(DEV): $(READY)
	$(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', \
	'rb'))['project']['optional-dependencies']['dev']))" > $(VENV)/dev-requirements.txt
	$(PIP) -r $(VENV)/dev-requirements.txt
	@touch $(DEV)

run: $(READY)
	@$(COMPILE)
	$(BIN)/voiceguide build --out $(OUT)

# Two test processes (pytest-xdist): most tests wait on ffmpeg, a speech worker or the
# browser, so two keep both cores busy (8 min 13 s against 12 min 7 s in one process,
# measured on 2 cores in the same hour). Two, not one per core: each process builds the
# session's shared fixtures (the quick start's routine) once for itself. A test file's
# tests stay in one process (--dist loadfile), in their order, sharing its fixtures:
# spread apart, a test that reads what an earlier one made could run without it.
TEST_PROCESSES ?= 2
PYTEST = $(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

test: $(DEV)
	@$(COMPILE)
	$(PYTEST)

# Everything but the end-to-end tests (the real voice and encoder, the browser).
test-fast: $(DEV)
	@$(COMPILE)
	$(PYTEST) -m "not e2e"

lint: $(DEV)
	$(BIN)/ruff check voiceguide tests bench hatch_build.py
	$(BIN)/mypy

bench: $(READY)
	$(BIN)/python bench/run.py

# voiceguide's words: extract them from the code and the share page into the template,
# then add new ones (untranslated) to every language's catalogue.
messages: $(DEV)
	$(BIN)/pybabel extract -F voiceguide/locale/babel.cfg -k N_ --no-location \
		--omit-header --sort-output -o voiceguide/locale/voiceguide.pot .
	$(BIN)/pybabel update -i voiceguide/locale/voiceguide.pot -d voiceguide/locale \
		-D voiceguide --no-fuzzy-matching --width 90

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
