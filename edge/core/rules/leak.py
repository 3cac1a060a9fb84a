"""The combined rule: ``cls_suspected`` when evidence of a leak is concurrent in two domains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge.core.indicators import Condition
from edge.core.rules.base import Rule
from edge.vocabulary import Alert, AlertCode, Priority


class ClsSuspected(Rule):
    """``cls_suspected``: alerts active in >= 2 of the BP, weight and SpO2 domains.

    A leak lowers blood pressure, raises weight and, once fluid reaches the lungs,
    lowers SpO2 (``shared/docs/clinical.md``, "Capillary leak syndrome"). Medium
    for two domains, high for all three or when any of them is high. It reads the
    domains' already-debounced conditions, so it needs no delay of its own.

    >>> from edge.core.indicators import Condition
    >>> bp, wt, ox = Condition("bp_falling"), Condition("weight_gain"), Condition("desaturation")
    >>> rule = ClsSuspected({"bp": (bp,), "weight": (wt,), "spo2": (ox,)})
    >>> _ = bp.update(0.0, Priority.MEDIUM, "", {}); rule.update(0.0) is None
    True
    >>> _ = wt.update(60.0, Priority.LOW, "", {}); a = rule.update(60.0)
    >>> a.priority.value, a.values
    ('medium', {'bp_rank': 2, 'weight_rank': 1, 'spo2_rank': 0, 'domains': 2})
    """

    __slots__ = ("domains",)

    def __init__(self, domains: Mapping[str, Sequence[Condition]]) -> None:
        self.domains = tuple((name, tuple(conds)) for name, conds in domains.items())
        self.condition = Condition(AlertCode.CLS_SUSPECTED)

    def update(self, t: float) -> Alert | None:
        """Re-evaluate after any domain's alert event at ``t``."""
        ranks = {name: max(c.rank for c in conds) for name, conds in self.domains}
        involved = [name for name, rank in ranks.items() if rank > 0]
        want = None
        if len(involved) >= 2:
            high = len(involved) == len(self.domains) or max(ranks.values()) == 3
            want = Priority.HIGH if high else Priority.MEDIUM
        cond = self.condition
        if want is None and cond.idle:
            return None
        msg = (
            f"capillary leak suspected: concurrent evidence in {', '.join(involved)}"
            if want
            else "capillary-leak evidence no longer concurrent"
        )
        values = {f"{name}_rank": rank for name, rank in ranks.items()}
        values["domains"] = len(involved)
        return cond.update(t, want, msg, values)
