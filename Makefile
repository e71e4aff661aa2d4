PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= data
SHARED ?= ../shared

.PHONY: install test test-slow data train bench tensorboard clean

MLFLOW_SERVER ?= .mlflow-server

.PHONY: mlflow-server

## install: create .venv and install the package (editable) with its test, export, sweep, trackers and bench extras,
## and the MLflow server's own environment (the tests start a server from it)
install: mlflow-server
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[test,export,sweep,trackers,bench]"

## mlflow-server: MLflow's server in its own environment, $(MLFLOW_SERVER)/ (it needs SQLAlchemy 2, which the sweep
## extra's Optuna excludes from .venv): $(MLFLOW_SERVER)/bin/mlflow server --backend-store-uri sqlite:///outputs/mlflow.db ...
mlflow-server:
	$(PYTHON) -m venv $(MLFLOW_SERVER)
	$(MLFLOW_SERVER)/bin/python -m pip install -q -c constraints.txt mlflow

## test: run the default test suite (slow tests deselected)
test:
	$(PY) -m pytest

## test-slow: run only the slow tests (they train on the real data: an archive in $(SHARED)/data, or data/)
test-slow:
	$(PY) -m pytest -m slow

## data: CIFAR-10 into $(DATA)/ from an archive of image folders, as data.url=file://... would (default: the JPEG copy in $(SHARED)/data)
DATA_ARCHIVE ?= $(SHARED)/data/cifar10-jpeg.tar.gz
data:
	$(PY) -c "import sys; from pathlib import Path; from torchvision.datasets.utils import calculate_md5; \
	from cifar.data.download import fetch; a = Path(sys.argv[1]).resolve(); \
	fetch(sys.argv[2], 'folder', url=a.as_uri(), md5=calculate_md5(a))" $(DATA_ARCHIVE) $(DATA)

## train: one default training run (override with ARGS="model=... trainer.max_epochs=...")
train:
	$(PY) -m cifar.train $(ARGS)

## bench: the benchmark set (figures in outputs/bench/*.json); not part of `make test`
bench:
	$(PY) -m cifar.bench latency
	$(PY) -m cifar.bench throughput
	$(PY) -m cifar.bench data
	$(PY) -m cifar.bench overhead --model smallnet

## tensorboard: review every run under outputs/
tensorboard:
	$(VENV)/bin/tensorboard --logdir outputs

clean:
	rm -rf .pytest_cache build *.egg-info
