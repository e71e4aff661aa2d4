"""Calibration: how well a model's confidence matches its accuracy.

The expected calibration error is torchmetrics' (top-label, 15 equal-width confidence bins, L1: the
usual definition, Guo et al. 2017). torchmetrics has no Brier score, does not expose its bins (which the
reliability diagram draws), and has no temperature scaling: those three are here.

Every function takes the network's outputs as they are: logits, or log-probabilities (``loss=nll``
networks). Both give the same probabilities through a softmax, and dividing either by a temperature
gives the same scaled probabilities (log-probabilities are logits shifted by a per-image constant).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_calibration_error

N_BINS = 15  # the test step's and evaluate's ECE bins
HOLDOUT_SEED = 0  # the fixed draw of the test images held out to fit a temperature on


def probabilities(outputs: torch.Tensor) -> torch.Tensor:
    return outputs.detach().float().softmax(dim=1)


def brier_per_image(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The multi-class Brier score of each image: sum over classes of (p_k - [k == target])^2, in [0, 2]."""
    return (probs - F.one_hot(targets, probs.shape[1]).to(probs.dtype)).square().sum(dim=1)


def expected_calibration_error(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = N_BINS) -> float:
    return float(multiclass_calibration_error(probs, targets, num_classes=probs.shape[1], n_bins=n_bins, norm="l1"))


@dataclass(frozen=True)
class Bin:
    lower: float
    upper: float
    count: int
    confidence: float | None  # the mean top-class probability of its images (None: empty)
    accuracy: float | None  # the share of its images classified correctly


def reliability_bins(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = N_BINS) -> list[Bin]:
    """The images binned by top-class confidence as torchmetrics bins them for the ECE (``[lower, upper)``);
    a confidence of exactly 1 (float rounding) counts in the last bin, where torchmetrics gives it a bin
    of its own."""
    confidence, predicted = probs.float().max(dim=1)
    correct = (predicted == targets).float()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=confidence.dtype)
    index = (torch.bucketize(confidence, edges, right=True) - 1).clamp(0, n_bins - 1)
    counts = torch.bincount(index, minlength=n_bins)
    conf_sum = torch.zeros(n_bins).index_add_(0, index, confidence)
    correct_sum = torch.zeros(n_bins).index_add_(0, index, correct)
    bins = []
    for i in range(n_bins):
        n = int(counts[i])
        bins.append(Bin(float(edges[i]), float(edges[i + 1]), n, float(conf_sum[i] / n) if n else None,
                        float(correct_sum[i] / n) if n else None))
    return bins


def calibration_figures(outputs: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> dict[str, float]:
    """Accuracy, NLL, ECE and Brier score of ``outputs / temperature``."""
    scaled = outputs.detach().float() / temperature
    probs = scaled.softmax(dim=1)
    return {
        "images": len(targets),
        "accuracy": float((scaled.argmax(dim=1) == targets).float().mean()),
        "nll": float(F.cross_entropy(scaled, targets)),
        "ece": expected_calibration_error(probs, targets),
        "brier": float(brier_per_image(probs, targets).mean()),
    }


def fit_temperature(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature T > 0 that minimises the NLL of ``outputs / T`` (Guo et al. 2017), by L-BFGS on
    log T. One number for all classes, so the predicted class never changes."""
    outputs = outputs.detach().float()
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(outputs / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def bins_table(bins: list[Bin]) -> list[dict]:
    return [asdict(b) for b in bins]


def split_holdout(outputs: torch.Tensor, targets: torch.Tensor, holdout: int):
    """``holdout`` test images drawn at random (a fixed draw) to fit the temperature on; the others are
    reported. Returns the reported outputs and targets, the fitting ones, and where the fit was made."""
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    fit, kept = order[:holdout], order[holdout:]
    return outputs[kept], targets[kept], outputs[fit], targets[fit], f"{holdout} held-out test images"


def calibration_report(outputs: torch.Tensor, targets: torch.Tensor, fit_outputs: torch.Tensor | None = None,
                       fit_targets: torch.Tensor | None = None, fit_on: str | None = None):
    """The calibration of the test outputs and, given fitting outputs, after temperature scaling: the report
    (figures, temperature, the reliability rows), the reliability bins and the scaled bins (None without a fit)."""
    before = calibration_figures(outputs, targets)
    bins = reliability_bins(outputs.softmax(dim=1), targets)
    report: dict = {"bins": N_BINS, "before": before}
    scaled_bins = None
    if fit_outputs is not None:
        temperature = fit_temperature(fit_outputs, fit_targets)
        after = calibration_figures(outputs, targets, temperature)
        scaled_bins = reliability_bins((outputs / temperature).softmax(dim=1), targets)
        report.update({"method": "temperature", "temperature": temperature, "fit_on": fit_on, "after": after})
    report["reliability"] = bins_table(bins) if scaled_bins is None else [
        {**b, **{f"{k}_scaled": v for k, v in s.items() if k in ("count", "confidence", "accuracy")}}
        for b, s in zip(bins_table(bins), bins_table(scaled_bins))]
    return report, bins, scaled_bins
