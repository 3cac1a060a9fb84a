"""``capleak demo``: a virtual patient, device simulators on ptys, the real agent, MQTT.

See :mod:`edge.lab.demo`. Runs a several-day capillary-leak course in a few
minutes on a shared, scaled clock and ends with a summary of the alerts
raised against the hold criteria.
"""

from __future__ import annotations

import argparse

from edge.cli.args import positive_float


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="watch the whole product work on a virtual patient (a few minutes)",
        description="A virtual patient develops a capillary leak over several days; "
        "device simulators speak the real serial protocols on pseudo-terminals; the "
        "real agent reads them and publishes over MQTT; a station view prints the alerts. "
        "Ends with a summary of the alerts against the hold criteria.",
    )
    p.add_argument("--broker", help="MQTT broker URL (default: a private mosquitto)")
    p.add_argument(
        "--scenario",
        default="severe",
        help="virtual patient: none, mild, moderate or severe, optionally :SEED (default severe)",
    )
    p.add_argument("--speed", type=positive_float, help="simulated seconds per real second")
    p.add_argument(
        "--duration", type=positive_float, default=150.0, help="real seconds to run (default 150)"
    )
    p.add_argument(
        "--days", type=positive_float, default=4.0, help="simulated days when --speed is not given"
    )
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from edge.lab.demo import run_demo

    logging.getLogger().setLevel(logging.WARNING)
    return run_demo(
        broker=args.broker,
        scenario=args.scenario,
        speed=args.speed,
        duration=args.duration,
        days=args.days,
        keep=args.keep,
        verbose=args.verbose > 0,
    )
