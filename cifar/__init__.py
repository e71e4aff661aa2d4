"""cifar: CIFAR-10 image classification with PyTorch Lightning and Hydra."""

from pathlib import Path

__version__ = "0.1.0"

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # the Hydra configs every command composes
