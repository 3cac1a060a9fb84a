"""The driver docstrings' examples are part of the protocol docs: keep them true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import drivers

MODULES = sorted(m.name for m in pkgutil.walk_packages(drivers.__path__, "drivers."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
