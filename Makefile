PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= data
SHARED ?= ../shared

.PHONY: install test test-slow data train bench tensorboard clean

## install: create .venv and install the package (editable) with its test, export and sweep extras
install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[test,export,sweep]"

## test: run the default test suite (slow tests deselected)
test:
	$(PY) -m pytest

## test-slow: run only the slow tests (need the real data, see `make data`)
test-slow:
	$(PY) -m pytest -m slow

## data: build the official CIFAR-10 layouts in $(DATA)/ from the JPEG copy in $(SHARED)/data
data:
	$(PY) $(SHARED)/tools/cifar10_from_jpeg.py $(DATA)

## train: one default training run (override with ARGS="model=... trainer.max_epochs=...")
train:
	$(PY) -m cifar.train $(ARGS)

## bench: the benchmark set (figures in outputs/bench/*.json); not part of `make test`
bench:
	$(PY) -m cifar.bench latency
	$(PY) -m cifar.bench throughput
	$(PY) -m cifar.bench data
	$(PY) -m cifar.bench overhead --model smallnet --steps 100 --rounds 4

## tensorboard: review every run under outputs/
tensorboard:
	$(VENV)/bin/tensorboard --logdir outputs

clean:
	rm -rf .pytest_cache build *.egg-info
