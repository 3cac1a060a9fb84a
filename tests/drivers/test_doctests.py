"""The driver docstrings' examples are part of the protocol docs: keep them true."""

from __future__ import annotations

import doctest
import importlib

import pytest

from drivers.registry import _MODULES

MODULES = sorted({*_MODULES.values(), "drivers.framing", "drivers.registry"})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
