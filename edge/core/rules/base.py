"""What every rule shares: the :class:`~edge.core.indicators.Condition` it owns."""

from __future__ import annotations

from edge.core.indicators import Condition
from edge.vocabulary import Priority


def r1(x: float) -> float:
    """One decimal, the precision of alert values.

    >>> r1(92.349)
    92.3
    """
    return round(x, 1)


class Rule:
    """An alert rule: evidence in (``update``), alert events out, one :class:`Condition`.

    Subclasses set :attr:`condition`; its state is the rule's value.
    """

    __slots__ = ("condition",)

    condition: Condition

    @property
    def code(self) -> str:
        return self.condition.code

    @property
    def priority(self) -> Priority | None:
        """The priority the rule holds now (``None``: not active)."""
        return self.condition.priority

    @property
    def active(self) -> bool:
        return self.condition.rank > 0
