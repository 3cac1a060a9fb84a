"""The combined rule: ``cls_suspected`` when evidence of a leak is concurrent in two domains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge.core.indicators import Condition
from edge.core.rules.base import Rule
from edge.vocabulary import Alert, AlertCode, Priority


class ClsSuspected(Rule):
    """``cls_suspected``: confirmed trend evidence in >= 2 of the BP, weight and SpO2 domains.

    A leak lowers blood pressure, raises weight and, once fluid reaches the lungs,
    lowers SpO2 (``shared/docs/clinical.md``, "Capillary leak syndrome"). Medium
    for two domains, high for all three or when any of them is high. It reads the
    domains' already-debounced conditions, each counted only from a minimum rank
    (``(condition, min_rank)`` pairs), so single samples never count (issue 12:
    ``cls_suspected`` fired on artifact evidence): the core wires BP to
    ``hypotension`` once confirmed (high) and ``bp_falling``, weight to the
    ``weight_gain`` trend, SpO2 to the ``spo2_falling`` trend only (not to the
    seconds-scale ``desaturation``).

    >>> from edge.core.indicators import Condition
    >>> hypo, bp = Condition("hypotension"), Condition("bp_falling")
    >>> wt, ox = Condition("weight_gain"), Condition("spo2_falling")
    >>> rule = ClsSuspected({"bp": ((hypo, 3), (bp, 1)), "weight": ((wt, 1),),
    ...                      "spo2": ((ox, 1),)})
    >>> _ = wt.update(0.0, Priority.LOW, "", {}); rule.update(0.0) is None
    True
    >>> _ = hypo.update(60.0, Priority.MEDIUM, "", {}); rule.update(60.0) is None  # one cycle
    True
    >>> _ = bp.update(120.0, Priority.MEDIUM, "", {}); a = rule.update(120.0)
    >>> a.priority.value, a.values
    ('medium', {'bp_rank': 2, 'weight_rank': 1, 'spo2_rank': 0, 'domains': 2})
    """

    __slots__ = ("domains",)

    def __init__(self, domains: Mapping[str, Sequence[tuple[Condition, int]]]) -> None:
        self.domains = tuple((name, tuple(conds)) for name, conds in domains.items())
        self.condition = Condition(AlertCode.CLS_SUSPECTED)

    def update(self, t: float) -> Alert | None:
        """Re-evaluate after any domain's alert event at ``t``."""
        ranks = {
            name: max((c.rank if c.rank >= least else 0) for c, least in conds)
            for name, conds in self.domains
        }
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
