"""What each recipe's own write-up reports, on the official CIFAR-10 files: the figure ``cifar.report``
puts beside a recipe's mean, with the gap.

Each recipe states it in its own file, ``conf/experiment/<name>.yaml`` (``write_up: {metric, value, label}``),
so a new recipe touches no Python; it is read from there (not from a run's config), so records made before
the key existed get it too. Only runs of the recipe as it stands (no overrides but where it runs:
accelerator, precision, seed, paths) are set beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from omegaconf import OmegaConf

from cifar import CONF_DIR
from cifar.errors import ConfigError


@dataclass(frozen=True)
class Reported:
    metric: str  # the figure the write-up reports: test/acc, or val/acc_best where it gives only that
    value: float  # 0..1
    label: str  # as the table says it

    def gap(self, ours: float | None) -> float | None:
        """The write-up's figure minus ours, in points (positive: ours is lower)."""
        return None if ours is None else 100 * (self.value - ours)


# overrides that change where a recipe runs, not what it is (seeds and paths are not in a run's label)
WHERE_IT_RUNS = {"accelerator", "precision"}


@functools.cache
def write_up(experiment: str) -> Reported | None:
    """``conf/experiment/<experiment>.yaml``'s ``write_up``, if the recipe has one."""
    path = CONF_DIR / "experiment" / f"{experiment}.yaml"
    node = OmegaConf.load(path).get("write_up") if path.is_file() else None
    if node is None:
        return None
    try:
        return Reported(str(node.metric), float(node.value), str(node.label))
    except Exception as exc:  # noqa: BLE001 - a missing or mistyped field
        raise ConfigError(f"{path}: write_up needs metric, value (0..1) and label: {exc}") from None


def reported_for(label: str) -> Reported | None:
    """The write-up's figure for the recipe a run's label (its overrides without seed and paths) names as
    ``experiment=<name>``, if the label changes nothing else: a shortened or tuned run is another recipe."""
    keys = dict(override.lstrip("+~").partition("=")[::2] for override in label.split())
    if "experiment" not in keys or set(keys) - {"experiment"} - WHERE_IT_RUNS:
        return None
    return write_up(keys["experiment"])
