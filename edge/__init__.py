"""capleak edge agent: the shared vocabulary, the signal-processing core and the
runtime that carries readings and alerts to the central station."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("capleak")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
