# One-command set-up on a fresh Linux machine with Python 3.11 (CPU):
#   make test   create/reuse .venv, install, run the test suite
#   make demo   create/reuse .venv, install, run the quick-start demo
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip -q --disable-pip-version-check
STAMP := $(VENV)/.mmseg_uda-installed

.PHONY: setup test lint demo clean-venv

setup: $(STAMP)

$(STAMP): setup.py requirements/*.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip 'setuptools<81' wheel
	# CPU build from the local wheel; an unpinned torch would pull CUDA.
	$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	$(PIP) install --no-deps -r requirements/openmmlab.txt -r requirements/mmcv-lite.txt -r requirements/mim.txt -r requirements/vfm.txt
	$(PIP) install -r requirements/runtime.txt -r requirements/tests.txt -r requirements/vfm-runtime.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q tests

lint: setup
	$(BIN)/ruff check .

demo: setup
	$(BIN)/python tools/quickstart.py

clean-venv:
	rm -rf $(VENV)
