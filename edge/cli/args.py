"""Argument types shared by the ``capleak`` subcommands (see :mod:`edge.cli`)."""

import argparse
import math


def positive_float(text: str) -> float:
    """argparse type: a finite number above zero."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v
