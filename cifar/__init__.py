"""cifar: CIFAR-10 image classification with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
