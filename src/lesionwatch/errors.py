"""Exceptions raised by lesionwatch.

Every class subclasses a builtin so that callers who do not know lesionwatch can still catch it. Messages say
what was expected, what arrived, which file, and how to fix it. The CLI turns any `LesionwatchError` into a
one-line message and its `exit_code`: 2 for bad input or usage, 1 for an analysis that failed.
"""

from __future__ import annotations


class LesionwatchError(Exception):
    """Base class of every error lesionwatch raises on purpose."""

    exit_code = 2


class InputFileNotFoundError(LesionwatchError, FileNotFoundError):
    """An input path does not exist."""


class InputImageError(LesionwatchError, ValueError):
    """An input file exists but is not a usable image (corrupt, not 3D, NaN, constant...)."""


class DicomSeriesError(LesionwatchError, ValueError):
    """A DICOM folder holds no image series, or several and none was chosen."""


class BidsLayoutError(LesionwatchError, ValueError):
    """A BIDS folder does not hold the expected files."""


class ImplausibleInputError(LesionwatchError, ValueError):
    """An input cannot be what it claims (a "FLAIR" with a T1's or an inverted contrast, a follow-up of two heads);
    `--force` proceeds and records the warning."""


class SpatialMismatchError(LesionwatchError, ValueError):
    """Two images that must overlap in world space do not; `sequence` names the one at fault where known."""

    def __init__(self, message: str, sequence: str | None = None) -> None:
        super().__init__(message)
        self.sequence = sequence


class RegistrationError(LesionwatchError, RuntimeError):
    """Registration failed or gave an implausible result."""

    exit_code = 1


class OutputExistsError(LesionwatchError, FileExistsError):
    """The output folder exists and `--force` was not given."""


class MissingDependencyError(LesionwatchError, ImportError):
    """A dependency of an optional part is not installed; the message names the extra that installs it."""

    @classmethod
    def for_extra(cls, extra: str, what: str) -> MissingDependencyError:
        """The error for `what` (e.g. "the PDF report") whose packages come with lesionwatch's `extra`."""
        return cls(f"{what} needs the '{extra}' extra: pip install 'lesionwatch[{extra}]'")


class ModelError(LesionwatchError, ValueError):
    """A model folder is missing, incomplete, or its weights do not match their checksum."""


class ConfigError(LesionwatchError, ValueError):
    """A configuration value is out of range."""
