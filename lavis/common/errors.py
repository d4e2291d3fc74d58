"""User-facing errors.

Every error a user can cause (a config typo, a missing file, a corrupt video, a bad checkpoint) is a
subclass of :class:`LavisError`. Entry points print these as one readable message instead of a long
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LavisError(Exception):
    """Base class for errors caused by user input rather than by a bug."""


class ConfigError(LavisError):
    """A configuration file or override is invalid (unknown key, wrong type, missing value)."""


class RegistryError(LavisError, KeyError):
    """A name was looked up in a registry that does not contain it."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DataError(LavisError):
    """An annotation file, video or other input sample is missing or malformed."""


class CheckpointError(LavisError):
    """A checkpoint is missing, unreadable, or does not match the model."""


class DependencyError(LavisError):
    """A program or optional package a feature needs is not installed (e.g. Java for METEOR)."""
