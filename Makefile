# One entry point for everything: each target builds the environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On this kind of machine `torch==2.13.0` is a CPU build that lies on disk; a bare
# `torch` would pull a CUDA build of several GB. Elsewhere: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-fast lint format demo data-fashion-mnist reproduce-paper reproduce-tuned reproduce-hardware clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -c "from qmoe_cli.quantum.jit_kernel import compile_ahead; compile_ahead()"
	$(BIN)/python -c "from qmoe_cli.training.stacked import compile_ahead; compile_ahead()"
	# An editable install byte-compiles nothing, and where PYTHONDONTWRITEBYTECODE is set
	# (as on CI machines) every command would compile qmoe_cli again (docs/performance.md).
	$(BIN)/python -m compileall -q qmoe_cli
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy qmoe_cli/report qmoe_cli/paper

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: $(STAMP)
	$(BIN)/qmoe ablate configs/two_moons.yaml

# Fashion-MNIST offline, for reproduce-paper's Fashion-MNIST study: Debian's package (Zalando's
# four IDX files, MIT) in /usr/share/datasets/fashion-mnist/, where qmoe looks after
# data.data_dir and the user cache. Without apt: qmoe data fetch fashion-mnist.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
data-fashion-mnist:
	@$(SUDO) $(APT_INSTALL) dataset-fashion-mnist \
	  || { $(SUDO) apt-get update -qq && $(SUDO) $(APT_INSTALL) dataset-fashion-mnist; }
	@ls /usr/share/datasets/fashion-mnist/

# Every experiment of the paper (the plan configs/paper/reproduce.yaml: configs/paper/, its
# Sec. VI-E fully quantum comparison included, and that model's evaluate-mode noise sweep
# configs/fully_quantum_noise.yaml), the diagnose of its Two Moons ablation, then the report.
# Its Fashion-MNIST study needs the files: installed first where apt is (make
# data-fashion-mnist; else qmoe data fetch fashion-mnist), skipped and said so without them. FAST=1: 2 seeds, a quick look (the report then says
# which claims fewer than 5 seeds cannot judge).
comma := ,
PAPER_SEEDS := $(if $(FAST),--seeds 0$(comma)1,)
# then `qmoe diagnose` of the Two Moons ablation for mech.kernel and mech.barren: the trained
# routers' spectrum and the gradient variance at the paper's depths (about 20 s on 2 cores)
PAPER_DIAGNOSE := --scan spectrum,trainability --ansatz ry_cz --init uniform --layers 6,12
reproduce-paper: $(STAMP)
	@[ -d /usr/share/datasets/fashion-mnist ] || ! command -v apt-get >/dev/null \
	  || $(MAKE) --no-print-directory data-fashion-mnist \
	  || echo "dataset-fashion-mnist could not be installed: the Fashion-MNIST study is skipped"
	@set -e; out=runs/paper/$$(date +%Y%m%d-%H%M%S); start=$$(date +%s); \
	$(BIN)/qmoe run configs/paper/reproduce.yaml --out $$out $(PAPER_SEEDS); \
	$(BIN)/qmoe diagnose $$(ls -d $$out/*-two_moons-*) $(PAPER_DIAGNOSE) --out $$out; \
	$(BIN)/qmoe report $$out --out $$out/report; \
	cp $$out/report/results.md docs/results.md; \
	echo "reproduce-paper: $$(( $$(date +%s) - start )) s; report: $$out/report/report.html; docs/results.md updated"

# The paper's Two Moons ablation tuned on validation (configs/paper/two_moons_tuned.yaml: A, B,
# B4, C, C240, C16, D, each with the same number of Optuna trials, then its best settings on
# the 20 seeds, tested once), and the report of it beside the fixed protocol's ablations
# (two_moons.yaml, two_moons_early_stopping.yaml; run here, or FIXED=DIR reads those under a
# reproduce-paper folder, e.g. FIXED=runs/paper/20261207-120000, and the whole paper's claims
# with them). The trials run in two processes sharing the one study (one per core). About 3
# minutes for the tuning, 3 more for the fixed runs; docs/results-tuned.md is the report.
# Not part of reproduce-paper: together they take longer than 4 minutes on 2 cores.
reproduce-tuned: $(STAMP)
	@set -e; out=runs/paper/tuned/$$(date +%Y%m%d-%H%M%S); start=$$(date +%s); mkdir -p $$out; \
	$(BIN)/qmoe tune configs/paper/two_moons_tuned.yaml --out $$out $(PAPER_SEEDS) \
	  > $$out/tune-second-process.log 2>&1 & second=$$!; \
	trap 'kill $$second 2>/dev/null || true' EXIT; \
	$(BIN)/qmoe tune configs/paper/two_moons_tuned.yaml --out $$out $(PAPER_SEEDS); \
	wait $$second; trap - EXIT; \
	echo "reproduce-tuned: tuning and final run $$(( $$(date +%s) - start )) s"; \
	fixed="$(FIXED)"; \
	if [ -z "$$fixed" ]; then fixed=$$out/fixed; \
	  $(BIN)/qmoe run configs/paper/two_moons.yaml configs/paper/two_moons_early_stopping.yaml \
	    --out $$fixed $(PAPER_SEEDS); fi; \
	$(BIN)/qmoe report $$out/two_moons_tuned/final/*/ $$fixed --out $$out/report; \
	{ echo "<!-- Written by \`make reproduce-tuned\` (qmoe report of the tuned ablation and the fixed-protocol runs): regenerate it, do not edit it by hand. -->"; \
	  echo; tail -n +3 $$out/report/results.md; } > docs/results-tuned.md; \
	echo "reproduce-tuned: $$(( $$(date +%s) - start )) s; report: $$out/report/report.html; docs/results-tuned.md updated"

# The NISQ-feasibility claim (hardware.nisq, docs/hardware.md): the paper's Two Moons ablation,
# its quantum routers (B 2x12, B4 4x6) through SamplerV2 on a good and an old fake IBM device
# (readout mitigation beside none; ZNE triples the circuits), then the report. About 10
# minutes with the paper's 20 seeds; FAST=1: 2 seeds, a quick look.
HW_TARGETS := FakeTorino FakeManilaV2
reproduce-hardware: $(STAMP)
	@set -e; out=runs/hardware/$$(date +%Y%m%d-%H%M%S); start=$$(date +%s); \
	$(BIN)/qmoe ablate configs/paper/two_moons.yaml --out $$out $(PAPER_SEEDS); \
	run=$$(ls -d $$out/*-two_moons-*/); \
	for target in $(HW_TARGETS); do \
	  $(BIN)/qmoe hardware $$run --target $$target --variants B,B4 --shots 1000,10000 \
	    --mitigation none,readout --out $$out; \
	done; \
	$(BIN)/qmoe report $$out/*/ --out $$out/report; \
	echo "reproduce-hardware: $$(( $$(date +%s) - start )) s; report: $$out/report/report.html"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

# The generated docs (tools/docs.py: docs/configuration.md from the config models, README.md's
# dataset list from the dataset registry); run from here, so they describe this checkout's
# qmoe_cli. tests/test_docs.py checks they are current.
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m tools.docs
