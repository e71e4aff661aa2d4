"""Errors a user can act on: each message names the file, option or field and what is expected."""


class CifarError(Exception):
    """Base class for errors caused by bad input (data, config, checkpoints), not by bugs."""


class DataError(CifarError):
    """Data is missing, truncated, malformed or fails its checksum."""


class ConfigError(CifarError):
    """A config value is unknown or out of range."""
