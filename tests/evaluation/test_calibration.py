"""Calibration figures against hand computations, and temperature scaling's two promises."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cifar.evaluation import calibration as C

# five images, three classes: top-class confidences 0.90, 0.62, 0.70, 0.50, 0.91; the 2nd and 4th wrong
PROBS = torch.tensor([[0.90, 0.05, 0.05], [0.62, 0.28, 0.10], [0.20, 0.70, 0.10], [0.50, 0.25, 0.25],
                      [0.91, 0.06, 0.03]])
TARGETS = torch.tensor([0, 1, 1, 2, 0])


def test_ece_and_brier_match_a_hand_computation():
    # 15 bins of width 1/15: 0.90 and 0.91 share [0.867, 0.933) (accuracy 1, mean confidence 0.905); the
    # others have a bin each. ECE = (2 * |1 - 0.905| + |0 - 0.62| + |1 - 0.70| + |0 - 0.50|) / 5
    assert C.expected_calibration_error(PROBS, TARGETS) == pytest.approx(1.61 / 5, abs=1e-6)
    # Brier: sum over classes of (p - onehot)^2, per image: 0.015, 0.9128, 0.14, 0.875, 0.0126
    assert C.brier_per_image(PROBS, TARGETS).tolist() == pytest.approx([0.015, 0.9128, 0.14, 0.875, 0.0126], abs=1e-6)
    figures = C.calibration_figures(PROBS.log(), TARGETS)  # log-probabilities in, as nll networks give them
    assert figures["brier"] == pytest.approx(1.9554 / 5, abs=1e-6)
    assert figures["accuracy"] == pytest.approx(3 / 5)
    assert figures["nll"] == pytest.approx(-sum(math.log(p) for p in (0.90, 0.28, 0.70, 0.25, 0.91)) / 5, abs=1e-6)


def test_reliability_bins_hold_counts_confidences_and_accuracies():
    bins = C.reliability_bins(PROBS, TARGETS)
    assert len(bins) == C.N_BINS == 15
    assert bins[0].lower == 0 and bins[-1].upper == 1
    assert [(i, b.count) for i, b in enumerate(bins) if b.count] == [(7, 1), (9, 1), (10, 1), (13, 2)]
    assert bins[13].confidence == pytest.approx(0.905) and bins[13].accuracy == 1.0
    assert bins[9].accuracy == 0.0 and bins[0].confidence is None
    # the diagram's bins give the ECE that torchmetrics computes
    ece = sum(b.count * abs(b.accuracy - b.confidence) for b in bins if b.count) / len(TARGETS)
    assert ece == pytest.approx(C.expected_calibration_error(PROBS, TARGETS), abs=1e-6)


def test_a_confidence_of_exactly_one_counts_in_the_last_bin():
    bins = C.reliability_bins(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    assert bins[-1].count == 2 and bins[-1].accuracy == 0.5 and bins[-1].confidence == 1.0


def over_confident(n: int = 2000, classes: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of a model right about 70% of the time that is nearly always sure: x6 the logits of a
    fair model."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.randint(classes, (n,), generator=generator)
    logits = torch.randn(n, classes, generator=generator)
    logits[torch.arange(n), targets] += 1.8
    return 6 * logits, targets


def test_temperature_scaling_lowers_the_nll_and_never_changes_a_prediction():
    logits, targets = over_confident()
    temperature = C.fit_temperature(logits[:1000], targets[:1000])
    assert temperature > 3  # it undoes most of the x6
    before = C.calibration_figures(logits[1000:], targets[1000:])
    after = C.calibration_figures(logits[1000:], targets[1000:], temperature)
    assert after["nll"] < 0.7 * before["nll"] and after["ece"] < 0.5 * before["ece"]
    assert after["accuracy"] == before["accuracy"]
    assert torch.equal((logits / temperature).argmax(dim=1), logits.argmax(dim=1))
    # the temperature is the NLL's minimum: a little more or less is worse
    nll = lambda t: float(F.cross_entropy(logits[:1000] / t, targets[:1000]))  # noqa: E731
    assert nll(temperature) < min(nll(temperature * 0.97), nll(temperature * 1.03))

