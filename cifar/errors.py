"""Errors a user can act on, and the two checks that raise them for an option.

Every message names the file, option or field and what is expected, on one line. Options are
checked once, by the code that owns them (the datamodule its ``data.*``, the module its loss
settings, a callback its own arguments) or, for options of code we do not own (Lightning's
Trainer, torch's optimizers), in ``cifar.training.preflight``; all of them through
:func:`check_range`, :func:`check_choice` and :func:`check_bool`, so one kind of mistake reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class CifarError(Exception):
    """Base class for errors caused by bad input (data, config, checkpoints), not by bugs."""


class DataError(CifarError):
    """Data is missing, truncated, malformed or fails its checksum."""


class ConfigError(CifarError):
    """A config value is unknown or out of range."""


class DiskFullError(CifarError, OSError):
    """An output could not be written: its disk (or quota) is full. Also an ``OSError``, so code that goes on
    without an optional file (a cache) still does."""


def check_range(option: str, value: Any, valid: bool, expected: str) -> Any:
    """``value`` of ``option`` when ``valid``; else ``<option>=<value> is out of range: expected <expected>``."""
    if not valid:
        raise ConfigError(f"{option}={value!r} is out of range: expected {expected}")
    return value


def check_choice(option: str, value: Any, choices: Iterable[Any], hint: str = "") -> Any:
    """``value`` when it is one of ``choices``; else ``<option>=<value> is unknown: expected one of ...``."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ConfigError(f"{option}={value!r} is unknown: expected one of {', '.join(map(str, choices))}{hint}")
    return value


def check_bool(option: str, value: Any) -> bool:
    """``value`` when it is true or false; else ``<option>=<value> is not a boolean: expected true or false``."""
    if not isinstance(value, bool):
        raise ConfigError(f"{option}={value!r} is not a boolean: expected true or false")
    return value


def is_int(value: Any, low: int | None = None) -> bool:
    """An integer (not a bool), at least ``low`` when given."""
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
