"""Evaluation beyond top-1 accuracy: calibration and corruption robustness."""
