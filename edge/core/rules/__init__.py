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
:class:`ClsSuspected`     ``cls_suspected`` (from the trend rules above)
:class:`NibpOverdue`      ``nibp_overdue``
:class:`DoseHold`         ``dose_hold_advised`` (the pre-dose check)
:class:`SensorOff`        ``sensor_off`` (one per device)
:class:`SignalLost`       ``signal_lost`` (one per watched signal)
========================  ==============================================
"""

from edge.config import Thresholds
from edge.core.indicators import Condition
from edge.core.rules.base import Rule
from edge.core.rules.dose_hold import DoseHold
from edge.core.rules.heart_rate import Tachycardia
from edge.core.rules.leak import ClsSuspected
from edge.core.rules.oxygenation import Desaturation, SpO2Falling
from edge.core.rules.pressure import BpFalling, Hypotension
from edge.core.rules.technical import NibpOverdue, SensorOff, SignalLost
from edge.core.rules.weight import WeightGain

__all__ = [
    "BpFalling",
    "ClsSuspected",
    "Desaturation",
    "DoseHold",
    "Hypotension",
    "NibpOverdue",
    "Rule",
    "RuleSet",
    "SensorOff",
    "SignalLost",
    "SpO2Falling",
    "Tachycardia",
    "WeightGain",
]


class RuleSet:
    """One bed's rules, built from one :class:`~edge.config.Thresholds`.

    ``cls_suspected`` is wired to its domains' conditions (BP: confirmed (high)
    hypotension and bp_falling; weight; SpO2: spo2_falling); :attr:`evidence`
    names the codes after whose events it must be re-evaluated.

    >>> rules = RuleSet(Thresholds())
    >>> list(rules.conditions)[:3], rules.active
    (['hypotension', 'bp_falling', 'desaturation'], {})
    """

    __slots__ = (
        "bp_falling",
        "cls_suspected",
        "conditions",
        "desaturation",
        "dose_hold",
        "evidence",
        "hypotension",
        "nibp_overdue",
        "sensor_off",
        "signal_lost",
        "spo2_falling",
        "tachycardia",
        "weight_gain",
    )

    def __init__(self, th: Thresholds, max_sources: int = 16) -> None:
        self.hypotension = Hypotension.from_thresholds(th)
        self.bp_falling = BpFalling.from_thresholds(th)
        self.desaturation = Desaturation.from_thresholds(th)
        self.spo2_falling = SpO2Falling.from_thresholds(th)
        self.weight_gain = WeightGain.from_thresholds(th)
        self.tachycardia = Tachycardia.from_thresholds(th)
        # confirmed trend evidence only (issue 12): hypotension once confirmed (high),
        # never the seconds-scale desaturation
        domains: dict[str, tuple[tuple[Rule, int], ...]] = {
            "bp": ((self.hypotension, 3), (self.bp_falling, 1)),
            "weight": ((self.weight_gain, 1),),
            "spo2": ((self.spo2_falling, 1),),
        }
        self.cls_suspected = ClsSuspected(
            {name: tuple((r.condition, k) for r, k in rules) for name, rules in domains.items()}
        )
        self.evidence = frozenset(r.code for rules in domains.values() for r, _ in rules)
        self.nibp_overdue = NibpOverdue(th.nibp_overdue_min)
        self.dose_hold = DoseHold.from_thresholds(th)
        self.sensor_off = SensorOff(th.sensor_off_grace_s, max_sources)
        self.signal_lost = SignalLost({"spo2": th.signal_lost_spo2_min * 60.0})
        #: bed-level conditions by code (per-device sensor_off ones: :attr:`sensor_off`)
        self.conditions: dict[str, Condition] = {
            rule.code: rule.condition
            for rule in (
                self.hypotension,
                self.bp_falling,
                self.desaturation,
                self.spo2_falling,
                self.weight_gain,
                self.tachycardia,
                self.cls_suspected,
                self.nibp_overdue,
                self.dose_hold,
            )
        }

    @property
    def active(self) -> dict[str, str]:
        """Active conditions: code (with ``/source`` for per-device ones) -> priority."""
        act = {c.code: c.priority.value for c in self.conditions.values() if c.priority}
        act.update(self.sensor_off.active)
        act.update(self.signal_lost.active)
        return act
