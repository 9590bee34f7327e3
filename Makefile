# medscreen — set-up, main job and tests. `make run` and `make test` do all set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA_DIR ?= $(or $(MEDSCREEN_DATA_DIR),../shared/data)

MEDSCREEN_HOME ?= medscreen-data
PORT ?= 8000
# 0.0.0.0 serves the clinic network (phones); the default serves this computer only.
HOST ?= 127.0.0.1

.PHONY: install chromium axe postgresql run test test-fast benchmark models clean

# Re-installs only when pyproject.toml changed (the package itself is editable).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[train,test]"
	touch $(STAMP)

install: $(STAMP)

# The clinic app on an embedded default: SQLite and images in $(MEDSCREEN_HOME), bundled models.
run: install
	$(BIN)/medscreen serve --host $(HOST) --port $(PORT) --data-dir "$(MEDSCREEN_HOME)" --workers 2

# $(call debian_package,PACKAGE,CHECK,WHAT SKIPS): install Debian's PACKAGE (as root, or by sudo without a password)
# unless the shell command CHECK finds it; never a download from elsewhere. Only a note when it cannot.
define debian_package
	@$(2) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else exit 0; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1) >/dev/null 2>&1; }; } || \
	  echo "note: Debian's $(1) could not be installed; $(3) skip (and fail under CI=true)"
endef

# Debian's chromium for the browser tests, where it is missing and can be installed (never a browser download).
chromium:
	$(call debian_package,chromium,command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1,browser tests)

# axe-core from npm (pinned by tests/a11y/package-lock.json) for the browser tests' accessibility checks; the tests
# inject it from disk, never from a CDN.
AXE_STAMP := tests/a11y/node_modules/.installed
$(AXE_STAMP): tests/a11y/package-lock.json
	@if command -v npm >/dev/null 2>&1 && npm ci --prefix tests/a11y --no-audit --no-fund --loglevel=error; then \
	  touch $(AXE_STAMP); \
	else echo "note: npm or the npm registry is missing: axe-core is not installed; the accessibility checks skip (and fail under CI=true)"; fi

axe: $(AXE_STAMP)

# Debian's PostgreSQL for the store and server tests that also run on it, where it is missing and can be installed.
# Debian keeps initdb off PATH (/usr/lib/postgresql/<version>/bin); the tests start a throwaway cluster of their own.
postgresql:
	$(call debian_package,postgresql,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1,the PostgreSQL tests)

test: install chromium axe postgresql
	$(BIN)/python -m pytest -n 2 -q

# The quick loop: everything but the tests marked slow (training runs, large networks, the browser, real datasets).
test-fast: install
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

benchmark: install
	$(BIN)/python benchmarks/segmentation.py --out benchmarks/results/segmentation.json
	$(BIN)/python benchmarks/input_check.py --out benchmarks/results/input_check.json
	$(BIN)/python benchmarks/screening.py --out benchmarks/results/screening.json
	$(BIN)/python benchmarks/classification.py --out benchmarks/results/classification.json
	$(BIN)/python benchmarks/glaucoma_transfer.py --out benchmarks/results/glaucoma_transfer.json

# Rebuild every fundus and breast model from $(DATA_DIR) and measure it (hours on 2 CPU cores; resumable: rerun to continue).
models: install
	DATA="$(DATA_DIR)" bash scripts/make_models.sh

clean:
	rm -rf $(VENV) .pytest_cache test-output tests/a11y/node_modules
