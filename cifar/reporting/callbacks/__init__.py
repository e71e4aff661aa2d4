"""Callbacks that only record or show a run (figures, tables, curves, the progress bar), never change it."""
