"""CIFAR-10 data: on-disk formats, download, augmentation and the LightningDataModule."""
