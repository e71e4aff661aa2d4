"""mCE and relative mCE against a baseline recipe, as Hendrycks and Dietterich define them, in the report."""

from __future__ import annotations

import json

import pytest

from cifar.report import evaluation_report
from cifar.reporting.evaluations import ReportError, corruption_errors


def evaluation(folder, recipe, clean, cells):
    folder.mkdir(parents=True)
    means = {c: sum(v.values()) / len(v) for c, v in cells.items()}
    worst = min(means, key=means.get)
    (folder / "evaluation.json").write_text(json.dumps({
        "recipe": recipe, "tta": "none", "test/acc": clean,
        "corruptions": {"source": "generated here (test)", "accuracy": cells, "mean_accuracy": means,
                        "mean_corruption_accuracy": sum(means.values()) / len(means),
                        "worst": {"corruption": worst, "mean_accuracy": means[worst]}}}))


BASE = {"fog": {"1": 0.7, "2": 0.5}, "contrast": {"1": 0.6, "2": 0.4}}  # errors 0.3 + 0.5, 0.4 + 0.6
BETTER = {"fog": {"1": 0.8, "2": 0.6}, "contrast": {"1": 0.9, "2": 0.6}}  # errors 0.2 + 0.4, 0.1 + 0.4


def test_the_errors_are_the_papers_ratios_of_sums():
    base = {"cells": BASE, "test acc": 0.9}
    mce, relative = corruption_errors({"cells": BETTER, "test acc": 0.95}, base)
    assert mce == pytest.approx(((0.2 + 0.4) / (0.3 + 0.5) + (0.1 + 0.4) / (0.4 + 0.6)) / 2)
    # relative: the error each corruption adds to the clean error (0.05 against the baseline's 0.1)
    assert relative == pytest.approx(((0.15 + 0.35) / (0.2 + 0.4) + (0.05 + 0.35) / (0.3 + 0.5)) / 2)
    assert corruption_errors(base, base) == pytest.approx((1.0, 1.0))
    # not tested on the same cells: no figure, rather than one over other corruptions
    assert corruption_errors({"cells": {"fog": BETTER["fog"]}, "test acc": 0.95}, base) == (None, None)
    assert corruption_errors({"cells": {**BETTER, "fog": {"1": 0.8}}, "test acc": 0.95}, base) == (None, None)


def test_the_report_names_its_baseline_and_refuses_an_unknown_one(tmp_path):
    evaluation(tmp_path / "basic", "experiment=basiccnn accelerator=cpu, seed 0", 0.9, BASE)
    evaluation(tmp_path / "small", "experiment=smallnet accelerator=cpu, seed 0", 0.95, BETTER)
    brief = evaluation_report([str(tmp_path)], brief=True, baseline="experiment=basiccnn").splitlines()
    assert brief[0] == "| recipe | clean acc | mean corruption acc | worst corruption | mCE | relative mCE |"
    assert brief[2] == "| `experiment=smallnet accelerator=cpu, seed 0` | 95.00% | 72.50% (2) | fog (70.00%) | 62.5% | 66.7% |"
    assert brief[3] == "| `experiment=basiccnn accelerator=cpu, seed 0` | 90.00% | 55.00% (2) | contrast (50.00%) | 100.0% | 100.0% |"
    assert "in per cent of `experiment=basiccnn accelerator=cpu, seed 0`'s" in brief[-1]
    full = evaluation_report([str(tmp_path)], baseline="experiment=basiccnn accelerator=cpu, seed 0").splitlines()
    assert full[0].endswith("| worst corruption | mCE | relative mCE |") and full[2].endswith("| 62.5% | 66.7% |")
    assert "mCE" not in evaluation_report([str(tmp_path)])  # no baseline, no figure relative to one
    with pytest.raises(ReportError, match=r"--baseline experiment=resnet18: matches no evaluation's recipe; expected "
                                          r"one of `experiment=basiccnn accelerator=cpu, seed 0`, `experiment=smallnet"):
        evaluation_report([str(tmp_path)], baseline="experiment=resnet18")
    with pytest.raises(ReportError, match=r"--baseline experiment=: matches 2 evaluation's recipe"):
        evaluation_report([str(tmp_path)], baseline="experiment=")
