"""Errors a user can cause and fix themselves.

The CLI turns a :class:`UserError` into one line on stderr and exit code 2; everything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad name, missing data, bad YAML, broken plugin)."""


class RegistryError(UserError):
    """registry.yaml or an entry point is malformed, unknown or defined twice."""


class DataError(UserError):
    """A data set's files are missing or unreadable."""


class ArtifactError(UserError):
    """A condensed-set artifact is missing, corrupted or tampered with."""


class StoreError(UserError):
    """The results store cannot be used (e.g. written by another schema version)."""


class InterchangeError(UserError):
    """A condensed set offered for import (or asked for export) that cannot be taken as it is."""
