"""The gateway's docstring examples (MLLP framing, HL7 escaping, times) stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import edge.station.gateway

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(edge.station.gateway.__path__, "edge.station.gateway.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
