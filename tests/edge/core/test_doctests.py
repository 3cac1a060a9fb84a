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
    "edge.core.trend",
    "edge.core.validation",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no docstring example"
