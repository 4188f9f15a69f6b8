# hocba — two commands do everything on a fresh Debian/Ubuntu machine:
#   make demo    set up, then run the whole pipeline on a generated sample district
#   make test    set up, then lint and run the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

export HOCBA_HOME ?= $(CURDIR)/.hocba
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
export OMP_THREAD_LIMIT := 1

SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd poppler-utils \
	xmlsec1 fonts-dejavu-core python3 python3-venv ca-certificates \
	chromium chromium-driver softhsm2 opensc
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
# The first Python 3.11/3.12 that actually runs (pyenv shims may exist without a version behind them).
PYTHON := $(shell for p in python3.12 python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' 2>/dev/null; \
	then command -v $$p; break; fi; done)
ifeq ($(PYTHON),)
$(error Need Python 3.11 or 3.12 (Debian 12 and Ubuntu 24.04 have it as python3; on Ubuntu 22.04 install python3.11))
endif

.PHONY: help setup system env demo test test-fast lint format ui serve clean train-glyphs

help:
	@echo "make demo   — set up and run the pipeline on a generated sample district"
	@echo "make test   — set up, lint and run the tests"
	@echo "make ui     — Dagster UI + daemon (sensors, backfills) at http://127.0.0.1:3000"
	@echo "make serve  — the review console at http://127.0.0.1:8000 beside the Dagster UI"

setup: system env

system:
	@scripts/install-system.sh $(SYSTEM_PACKAGES)

$(CURDIR)/.tools/bin/uv:
	@echo "uv not found: installing uv $(UV_VERSION) into .tools/"
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install -q uv==$(UV_VERSION)

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

demo: setup
	$(UV) run --frozen --no-sync hocba demo --simulate-review

test: setup
	$(UV) run --frozen --no-sync ruff check .
	$(UV) run --frozen --no-sync lint-imports  # the layers under [tool.importlinter] in pyproject.toml
	$(UV) run --frozen --no-sync pytest

test-fast: setup
	$(UV) run --frozen --no-sync pytest -m "not slow"

lint: env
	$(UV) run --frozen --no-sync ruff check .

format: env
	$(UV) run --frozen --no-sync ruff format .

ui: setup
	$(UV) run --frozen --no-sync hocba ui

serve: setup
	$(UV) run --frozen --no-sync hocba serve

clean:
	rm -rf .venv .tools .pytest_cache .ruff_cache

# --- the glyph CNN (models/glyphs/): training is optional, `make test` and `make demo` never need it.
# Its own venv, .venv-train: torch (CPU) + onnx + what scripts/train_glyphs.py imports of the project.
# Here pip takes torch's CPU wheel from the machine's wheel cache; elsewhere use PyTorch's CPU index
# (the default index serves a multi-GB CUDA build):
#   make train-glyphs TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
TRAIN_VENV := $(CURDIR)/.venv-train
TRAIN_ARGS ?=

$(TRAIN_VENV)/.ready: scripts/requirements-train.txt
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q $(TORCH_SPEC)
	$(TRAIN_VENV)/bin/pip install -q -r scripts/requirements-train.txt
	$(TRAIN_VENV)/bin/pip install -q --no-deps -e .
	@touch $@

train-glyphs: $(TRAIN_VENV)/.ready
	env -u OMP_THREAD_LIMIT $(TRAIN_VENV)/bin/python scripts/train_glyphs.py $(TRAIN_ARGS)  # torch may use every core
