# The two commands of the README, and what they need. Each target creates the environment when missing.
#   make repro   corpus -> ... -> report on the embedded default data (offline, CPU)
#   make test    the test suite
#   make seeds   after make repro: the training-seed sweep behind the scorecard's ablation rows (DVC experiments)
#   make browser-check   the explorer in JupyterLab driven by headless Chromium (installs Debian's chromium)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Offline by default: wandb writes local runs (wandb sync uploads them later), DVC sends nothing.
export WANDB_MODE ?= offline
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro test seeds browser-check env clean-env

repro: $(STAMP)
	dvc pull
	dvc repro
	@cat reports/report/table.md
	@cat reports/report/claims.md
	@echo "All stage metrics: dvc metrics show. Videos: build/animate/, reports/report/side_by_side/."

test: $(STAMP)
	WANDB_MODE=disabled $(BIN)/python -m pytest

# Seeds 1 and 2 of S2L and L2L (and every ablation variant) as `dvc exp run --temp` experiments, collected into
# reports/seeds/summary.json; then the report again, whose ablation rows show the mean and range over seeds.
seeds: $(STAMP)
	$(BIN)/python tools/seeds.py
	dvc repro report
	@cat reports/report/claims.md

# Debian's chromium + chromium-driver (system packages: root, or install them yourself), then the marked test.
browser-check: $(STAMP)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }
	WANDB_MODE=disabled $(BIN)/python -m pytest -m browser tests/test_explorer_browser.py
	@echo "Screenshots: build/browser-check/*.png"

env: $(STAMP)

# Python 3.11 venv with exactly the locked versions (requirements/lock.txt is a pip freeze of a working
# install; pyproject.toml names the direct dependencies). torch comes from the machine's wheel cache.
$(STAMP): pyproject.toml requirements/lock.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 needed, found " + sys.version' \
		|| { echo "Set PYTHON=/path/to/python3.11 (e.g. make test PYTHON=python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements/lock.txt -e ".[pipeline,notebook,dev,browser]"
	touch $@

clean-env:
	rm -rf $(VENV)
