# hrm-dlp: `make demo` builds everything end to end, `make test` is what CI runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export HRM_DLP_LAKE ?= $(CURDIR)/data_lake

.PHONY: install demo test test-fast lint format dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml scripts/install_torch.sh | $(BIN)/python
	bash scripts/install_torch.sh $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(BIN)/pip uninstall -y -q onnxruntime && $(BIN)/pip install -q -e '.[dev,gpu]'; fi
	touch $@

install: $(VENV)/.installed
	@bash scripts/fetch_corpora.sh $(BIN)/python || true

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@

# Materialize the whole asset graph (minus the API-key-only agentic asset) on the embedded defaults.
# Same as `dagster job execute -m dlp_assets.definitions -j demo`, in one process, with a summary.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m dlp_assets.demo

# pytest exits 5 when it collects no test: treat that as success, anything else as it is.
# The browser test needs Debian's chromium; the script installs it when it can and never fails the run.
test: install
	bash scripts/install_chromium.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m dlp_assets.definitions

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
