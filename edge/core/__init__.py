"""The signal-processing core: readings in; alert events, dose checks and trends out.

Imports only :mod:`edge.vocabulary` and :mod:`edge.config` dataclasses: no
serial, MQTT, SQLite, threads or wall clock (``docs/architecture.md``).
"""

from edge.core.core import Core
from edge.core.dose import DoseCheck, HoldCriterion
from edge.core.outputs import Output, SignalTrend, TrendSummary, output_dict

__all__ = [
    "Core",
    "DoseCheck",
    "HoldCriterion",
    "Output",
    "SignalTrend",
    "TrendSummary",
    "output_dict",
]
