"""The settings machinery: :func:`setting` fields and :class:`ConfigError`.

Each field's metadata carries its documentation and its allowed range; the
validator in :mod:`edge.config.loading` walks them.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import field
from functools import partial
from typing import Any

EX_CONFIG = 78  # sysexits.h: configuration error

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """A configuration problem, tied to the key it is about."""

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"configuration error{where}: {key}: {problem}")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    min: float | None = None,
    max: float | None = None,
    choices: Iterable[str] | None = None,
    pattern: re.Pattern[str] | None = None,
) -> Any:
    """A dataclass field with validation metadata."""
    meta = {
        "doc": doc,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices else None,
        "pattern": pattern,
    }
    if isinstance(default, list | dict):
        factory: Callable[[], Any] = partial(copy.copy, default)
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)
