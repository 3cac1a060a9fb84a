"""The ``patient:SEVERITY[:SEED[:DAYS]]`` scenario plug-in for the device simulators.

``capleak simulate --scenario patient:moderate:7`` plays virtual patient 7 of the
drawn class ``moderate`` over the real device protocols. The simulators' scenario
loader (``drivers/simulator/scenario.py``) calls plug-ins as
``function(args, start, source) -> Iterator[Reading]`` with readings in time order.

>>> from itertools import islice
>>> [r.signal for r in islice(scenario("none:3", 0.0, "sim"), 2)]
['spo2', 'pulse']
"""

from __future__ import annotations

from collections.abc import Iterator

from edge.lab.patient import SEVERITIES, scenario_readings
from edge.vocabulary import Reading


def parse_args(args: str) -> tuple[str, int, float]:
    """``SEVERITY[:SEED[:DAYS]]`` -> (severity, seed, days); ValueError for a person.

    >>> parse_args("severe:42")
    ('severe', 42, 5.0)
    """
    parts = args.split(":") if args else []
    if not parts or parts[0] not in SEVERITIES or len(parts) > 3:
        raise ValueError(
            f"patient scenario is patient:SEVERITY[:SEED[:DAYS]] with SEVERITY one of "
            f"{', '.join(SEVERITIES)}; got 'patient:{args}'"
        )
    try:
        seed = int(parts[1]) if len(parts) > 1 else 0
        days = float(parts[2]) if len(parts) > 2 else 5.0
    except ValueError:
        raise ValueError(
            f"patient scenario: SEED must be a whole number, DAYS a number: {args!r}"
        ) from None
    if not 0.05 <= days <= 30:
        raise ValueError(f"patient scenario: DAYS must be between 0.05 and 30, got {days:g}")
    return parts[0], seed, days


def scenario(args: str, start: float, source: str = "virtual-patient") -> Iterator[Reading]:
    severity, seed, days = parse_args(args)
    return scenario_readings(severity, seed=seed, start=start, days=days, source=source)
