"""Benchmarks: ``python -m cifar.bench <what> [options]`` (``--help`` for each); not part of the
default test suite (``make bench`` runs the set).

- ``latency``: batch-1 inference latency of every model config (``latency.py``).
- ``throughput``: training and inference images/s and batch-1 latency of every model config,
  eager, channels_last and compiled (``throughput.py``).
- ``data``: images/s of each data pipeline alone, against the fastest model's training rate
  (``data.py``).
- ``overhead``: the project's Lightning path against a plain PyTorch loop (``overhead.py``).
- ``speedrun``: a recipe (``experiment=<name> seeds=N``) timed from fit start to test accuracy,
  through Lightning and as a plain loop (``speedrun.py``).
- ``record``: the 2024 speed record's own code (``airbench==0.1.8``, ``train94``; the ``bench`` extra) on the
  CPU, on the project's data, timed as ``speedrun`` times a recipe (``record.py``).

Each prints a markdown table and writes its figures as JSON (``outputs/bench/<what>.json``).
"""
