# medscreen — set-up, main job and tests. `make run` and `make test` do all set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA_DIR ?= $(or $(MEDSCREEN_DATA_DIR),../shared/data)

.PHONY: install run test benchmark clean

# Re-installs only when pyproject.toml changed (the package itself is editable).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[train,test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/medscreen data check "$(DATA_DIR)"

test: install
	$(BIN)/python -m pytest -n 2 -q

benchmark: install
	$(BIN)/python benchmarks/segmentation.py --out benchmarks/results/segmentation.json
	$(BIN)/python benchmarks/input_check.py --out benchmarks/results/input_check.json
	$(BIN)/python benchmarks/screening.py --out benchmarks/results/screening.json
	$(BIN)/python benchmarks/classification.py --out benchmarks/results/classification.json
	$(BIN)/python benchmarks/glaucoma_transfer.py --out benchmarks/results/glaucoma_transfer.json

clean:
	rm -rf $(VENV) .pytest_cache test-output
