"""lesionwatch: segment multiple sclerosis white-matter lesions on brain MRI and follow them over time."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lesionwatch")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
