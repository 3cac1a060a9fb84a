"""The docstring examples of the patient and evaluation modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "edge.patient",
    "edge.patient.model",
    "edge.patient.truth",
    "edge.patient.scenario",
    "edge.evaluation.comparators",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
