"""The alert rules: one small class per alert, each owning its alert condition.

Each rule has the shape of the trend filter (:mod:`edge.core.trend`): built from
its settings (``from_thresholds``; defaults and sources in
:class:`edge.config.Thresholds`), fed evidence with ``update(...)`` (or a few
named events), returning the :class:`~edge.vocabulary.Alert` event it causes or
``None``, and exposing its value (:attr:`~edge.core.rules.base.Rule.priority`,
``active``). Priorities are :class:`~edge.vocabulary.Priority` values. The
:class:`~edge.core.core.Core` facade routes validated, cleaned readings to them.

========================  ==============================================
rule                      alert code
========================  ==============================================
:class:`Hypotension`      ``hypotension``
:class:`BpFalling`        ``bp_falling``
:class:`Desaturation`     ``desaturation``
:class:`SpO2Falling`      ``spo2_falling``
:class:`WeightGain`       ``weight_gain``
:class:`Tachycardia`      ``tachycardia``
:class:`ClsSuspected`     ``cls_suspected`` (from the four above)
:class:`NibpOverdue`      ``nibp_overdue``
:class:`DoseHold`         ``dose_hold_advised`` (the pre-dose check)
:class:`SensorOff`        ``sensor_off`` (one per device)
========================  ==============================================
"""

from edge.core.rules.base import Rule
from edge.core.rules.dose_hold import DoseHold
from edge.core.rules.heart_rate import Tachycardia
from edge.core.rules.leak import ClsSuspected
from edge.core.rules.oxygenation import Desaturation, SpO2Falling
from edge.core.rules.pressure import BpFalling, Hypotension
from edge.core.rules.technical import NibpOverdue, SensorOff
from edge.core.rules.weight import WeightGain

__all__ = [
    "BpFalling",
    "ClsSuspected",
    "Desaturation",
    "DoseHold",
    "Hypotension",
    "NibpOverdue",
    "Rule",
    "SensorOff",
    "SpO2Falling",
    "Tachycardia",
    "WeightGain",
]
