"""The docstring examples of the patient and evaluation modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "edge.lab.patient",
    "edge.lab.patient.model",
    "edge.lab.patient.truth",
    "edge.lab.patient.scenario",
    "edge.lab.evaluation.comparators",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
