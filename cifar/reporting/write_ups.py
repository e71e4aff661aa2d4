"""What each recipe's own write-up reports, on the official CIFAR-10 files: the figure ``cifar.report``
puts beside a recipe's mean, with the gap.

Keyed by the ``experiment=`` a run was started with (``conf/experiment/<name>.yaml`` names its
write-up); only runs of the recipe as it stands (no overrides but where it runs: accelerator,
precision, seed, paths) are set beside it. Recipes whose write-ups report no accuracy (deepcnn,
smallnet, resnet18, the other speedruns) have no entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from cifar import metric_names as M


@dataclass(frozen=True)
class Reported:
    metric: str  # the figure the write-up reports: M.TEST_ACC, or M.VAL_ACC_BEST where it gives only that
    value: float  # 0..1
    label: str  # as the table says it

    def gap(self, ours: float | None) -> float | None:
        """The write-up's figure minus ours, in points (positive: ours is lower)."""
        return None if ours is None else 100 * (self.value - ours)


WRITE_UPS = {
    "basiccnn": Reported(M.TEST_ACC, 0.7763, "77.63% test"),
    "netv2": Reported(M.VAL_ACC_BEST, 0.85, "85% val (epoch 42)"),
    "compactnet": Reported(M.TEST_ACC, 0.8543, "85.43% test (92.63% val)"),
    "speedrun94": Reported(M.TEST_ACC, 0.9401, "94.01% test"),
}


# overrides that change where a recipe runs, not what it is (seeds and paths are not in a run's label)
WHERE_IT_RUNS = {"accelerator", "precision"}


def reported_for(label: str) -> Reported | None:
    """The write-up's figure for the recipe a run's label (its overrides without seed and paths) names as
    ``experiment=<name>``, if the label changes nothing else: a shortened or tuned run is another recipe."""
    keys = dict(override.lstrip("+~").partition("=")[::2] for override in label.split())
    if "experiment" not in keys or set(keys) - {"experiment"} - WHERE_IT_RUNS:
        return None
    return WRITE_UPS.get(keys["experiment"])
