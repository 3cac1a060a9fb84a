"""``capleak demo``: a virtual patient, device simulators on ptys, the real agent, MQTT.

See :mod:`edge.lab.demo`. Runs a several-day capillary-leak course in a few
minutes on a shared, scaled clock and ends with a summary of the alerts
raised against the hold criteria.
"""

from __future__ import annotations

import argparse

from edge.cli.args import broker_url, positive_float

#: The virtual patients, named as ``capleak simulate --scenario patient:...`` names them.
SEVERITIES = ("none", "mild", "moderate", "severe")


def patient_scenario(text: str) -> str:
    """argparse type: ``[patient:]SEVERITY[:SEED]`` -> ``SEVERITY[:SEED]``.

    >>> patient_scenario("patient:moderate:7"), patient_scenario("severe")
    ('moderate:7', 'severe')
    """
    spec = text.removeprefix("patient:")
    name, _, seed = spec.partition(":")
    if name not in SEVERITIES or (seed and not seed.isdigit()):
        raise argparse.ArgumentTypeError(
            f"must be patient:SEVERITY[:SEED] with SEVERITY one of {', '.join(SEVERITIES)} "
            f"and SEED a whole number, got {text!r}"
        )
    return spec


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="watch the whole product work on a virtual patient (a few minutes)",
        description="A virtual patient develops a capillary leak over several days; "
        "device simulators speak the real serial protocols on pseudo-terminals; the "
        "real agent reads them and publishes over MQTT; a station view prints the alerts. "
        "Ends with a summary of the alerts against the hold criteria.",
    )
    p.add_argument(
        "--broker", type=broker_url, help="MQTT broker URL (default: a private mosquitto)"
    )
    p.add_argument(
        "--scenario",
        type=patient_scenario,
        default="severe",
        metavar="patient:SEVERITY[:SEED]",
        help="the virtual patient, SEVERITY none, mild, moderate or severe; the same words "
        "as capleak simulate --scenario (default: patient:severe)",
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        help="simulated seconds per real second (default: --days simulated days in --duration)",
    )
    p.add_argument(
        "--duration", type=positive_float, default=150.0, help="real seconds to run (default 150)"
    )
    p.add_argument(
        "--days",
        type=positive_float,
        default=4.0,
        help="simulated days when --speed is not given (default: %(default)g)",
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
