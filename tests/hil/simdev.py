"""A bedside device simulator as its own process, on a pty behind a stable symlink.

``python -m tests.hil.simdev --driver D --link PATH --scenario SPEC [--period S]``
plays ``SPEC`` (:func:`drivers.simulator.scenario.load_scenario`) with the driver's real
protocol (:class:`drivers.simulator.Simulator`) on the clock in ``CAPLEAK_CLOCK``
(the agent's shared scaled clock), so simulators and agent agree on simulated
time. ``--period`` overrides how often a streaming device sends (simulated s):
a real oximeter's one line a second is thousands a second at test speeds.
Stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from drivers.simulator import PtyEndpoint, Simulator, make_model
from drivers.simulator.scenario import load_scenario
from edge.clock import clock_from_spec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="simdev")
    p.add_argument("--driver", required=True)
    p.add_argument("--link", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--period", type=float)
    args = p.parse_args(argv)
    clock = clock_from_spec(os.environ.get("CAPLEAK_CLOCK", ""))
    start = getattr(clock, "start", clock.now())
    model = make_model(args.driver, {})
    if args.period:
        model.period_s = args.period  # type: ignore[misc]
    scenario = load_scenario(args.scenario, start, source=args.driver)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    sim = Simulator(
        model,
        PtyEndpoint(args.link),
        scenario,
        clock,
        on_open=lambda path: print(path, flush=True),
    )
    sim.run(lambda: stopping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
