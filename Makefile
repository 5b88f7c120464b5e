# One entry point for everything: each target builds the environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On this kind of machine `torch==2.13.0` is a CPU build that lies on disk; a bare
# `torch` would pull a CUDA build of several GB. Elsewhere: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-fast lint format demo reproduce-paper clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -c "from qmoe_cli.quantum.jit_kernel import compile_ahead; compile_ahead()"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: $(STAMP)
	$(BIN)/qmoe ablate configs/two_moons.yaml

# Every experiment of the paper (the plan configs/paper/reproduce.yaml: configs/paper/, its
# Sec. VI-E fully quantum comparison included, and that model's evaluate-mode noise sweep
# configs/fully_quantum_noise.yaml), then the report. FAST=1: 2 seeds, a quick look (the
# report then says which claims fewer than 5 seeds cannot judge).
comma := ,
PAPER_SEEDS := $(if $(FAST),--seeds 0$(comma)1,)
reproduce-paper: $(STAMP)
	@set -e; out=runs/paper/$$(date +%Y%m%d-%H%M%S); start=$$(date +%s); \
	$(BIN)/qmoe run configs/paper/reproduce.yaml --out $$out $(PAPER_SEEDS) --report $$out/report; \
	cp $$out/report/results.md docs/results.md; \
	echo "reproduce-paper: $$(( $$(date +%s) - start )) s; report: $$out/report/report.html; docs/results.md updated"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# docs/configuration.md, generated from the config models (tests/test_docs.py checks it is current).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m qmoe_cli.docs > docs/.configuration.md.tmp
	mv docs/.configuration.md.tmp docs/configuration.md
