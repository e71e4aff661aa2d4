"""PatchWhitening: a frozen convolution that whitens the image's k x k patches.

Its filters are the eigenvectors of the covariance of the k x k patches of (normalized) training
images, scaled by 1/sqrt(eigenvalue + eps), followed by their negatives, so the layer's first
half of outputs has (close to) identity covariance on the data it was fitted on. The weights stay
frozen; the bias is trainable (``cifar.training.callbacks.whitening.WhiteningInit`` fits the layer from the
datamodule's training images and can freeze the bias after a few epochs).
"""

from __future__ import annotations

import torch
from torch import nn


def patches(images: torch.Tensor, size: int) -> torch.Tensor:
    """All ``size`` x ``size`` patches (stride 1) of ``images`` [N, C, H, W] as rows [M, C*size*size]."""
    n, c, _, _ = images.shape
    unfolded = images.unfold(2, size, 1).unfold(3, size, 1)  # N, C, H', W', size, size
    return unfolded.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size)


class PatchWhitening(nn.Conv2d):
    """``2 * in_channels * kernel_size**2`` output channels, no padding."""

    def __init__(self, in_channels: int = 3, kernel_size: int = 2, eps: float = 5e-4):
        width = in_channels * kernel_size**2
        super().__init__(in_channels, 2 * width, kernel_size=kernel_size, padding=0, bias=True)
        self.eps = eps
        self.weight.requires_grad_(False)
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> None:
        """Set the filters from normalized float images [N, C, H, W] (computed on their device); the
        bias keeps its initial values (PyTorch's uniform init of a convolution's bias, as the records keep it)."""
        c, k = self.in_channels, self.kernel_size[0]
        if images.ndim != 4 or images.shape[1] != c:
            raise ValueError(f"PatchWhitening.fit: expected images [N, {c}, H, W], got {list(images.shape)}")
        rows = patches(images.double(), k)
        covariance = rows.T @ rows / len(rows)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
        eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
        filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + self.eps).view(-1, 1)).view(-1, c, k, k)
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight))
        self.fitted.fill_(True)
