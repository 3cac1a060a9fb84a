"""Argument types and the usage error shared by the ``capleak`` subcommands (see :mod:`edge.cli`).

A bad command-line argument is a usage error (exit 2, like argparse's own); exit 78
(``EX_CONFIG``) stays for configuration files.
"""

import argparse
import math
import re

#: One part of a bed path (site, unit or bed): the characters a topic level may use.
BED_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UsageError(Exception):
    """A bad command-line argument found after parsing (``main`` exits 2 with the message)."""


def positive_float(text: str) -> float:
    """argparse type: a finite number above zero."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def broker_url(text: str) -> str:
    """argparse type: an MQTT broker URL (``mqtt://HOST[:PORT]``, ``mqtts://``, ``ws://``...).

    >>> broker_url("mqtt://127.0.0.1:1883")
    'mqtt://127.0.0.1:1883'
    """
    from edge.config import ConfigError
    from edge.messaging.mqtt import parse_broker_url

    try:
        parse_broker_url(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(e.problem) from None
    return text


def bed_path(text: str) -> str:
    """argparse type: ``SITE/UNIT/BED``.

    >>> bed_path("ward-3/icu/bed-7")
    'ward-3/icu/bed-7'
    """
    parts = text.split("/")
    if len(parts) != 3 or not all(BED_PART.fullmatch(x) for x in parts):
        raise argparse.ArgumentTypeError(
            f"must be SITE/UNIT/BED (letters, digits, '_', '.', '-'), got {text!r}"
        )
    return text
