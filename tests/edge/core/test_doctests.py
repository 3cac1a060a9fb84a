"""The docstring examples of every core module run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "edge.core.artifacts",
    "edge.core.baselines",
    "edge.core.core",
    "edge.core.dose",
    "edge.core.indicators",
    "edge.core.replay",
    "edge.core.rules",
    "edge.core.rules.base",
    "edge.core.rules.dose_hold",
    "edge.core.rules.heart_rate",
    "edge.core.rules.leak",
    "edge.core.rules.oxygenation",
    "edge.core.rules.pressure",
    "edge.core.rules.technical",
    "edge.core.rules.weight",
    "edge.core.state",
    "edge.core.trend",
    "edge.core.validation",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no docstring example"
