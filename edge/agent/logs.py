"""The agent's logging set-up and the version it reports."""

from __future__ import annotations

import logging
import os


def _version() -> str:
    from edge import __version__

    return __version__


def configure_logging(verbose: int = 0) -> None:
    """Concise logs for a terminal or journald (no timestamps under systemd: journald adds them)."""
    level = logging.DEBUG if verbose >= 2 else logging.INFO
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(message)s"
    logging.basicConfig(level=level, format=fmt, force=True)
