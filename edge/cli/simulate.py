"""``capleak simulate``: a bedside device speaking its real protocol, for testing without hardware.

::

    capleak simulate --device NAME --port pty|PATH|socket://HOST:PORT
                     [--scenario SPEC] [--speed N] [--link PATH] [fault options]
    capleak simulate --replay CAPTURE --port ...

Each time the device is (re)plugged, the path it is at is printed on its own
line of stdout (the first line is where to point the agent; with ``--link``
the link always points at the current pty). See :mod:`drivers.simulator` and
:mod:`drivers.simulator.scenario` (scenario syntax).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import Any

from drivers.registry import driver_names
from drivers.simulator.scenario import BUILTINS, load_scenario, parse_duration
from edge.cli.args import positive_float
from edge.clock import ScaledClock
from edge.vocabulary import parse_time

log = logging.getLogger(__name__)


def _probability(text: str) -> float:
    p = float(text)
    if not 0 <= p <= 1:
        raise argparse.ArgumentTypeError(f"a probability is between 0 and 1, got {text}")
    return p


def _window(text: str) -> tuple[float, float]:
    from drivers.simulator import parse_window

    try:
        return parse_window(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a bedside device over a pty, a serial port or TCP",
        description="Play a scenario over a device's real protocol (answering polls), "
        "with optional fault injection, or replay a capture with its original timing.",
    )
    p.add_argument("--device", choices=driver_names(), help="driver whose device to simulate")
    p.add_argument("--port", default="pty", help="pty (default), a PATH, or socket://HOST:PORT")
    p.add_argument("--link", help="with --port pty: keep this symlink pointing at the pty")
    p.add_argument(
        "--scenario",
        default="stable",
        help=f"a builtin ({', '.join(BUILTINS)}); the virtual patient of capleak demo, "
        "patient:SEVERITY[:SEED] with SEVERITY none, mild, moderate or severe; items like "
        "'spo2=97,sbp=120->85@48h/15m'; a replay CSV; or another plug-in NAME:ARGS "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        help="simulated seconds per second (default: %(default)g)",
    )
    p.add_argument("--start", help="simulated start time, ISO 8601 (default: now)")
    p.add_argument("--duration", help="stop after this much simulated time (e.g. 90s, 2h)")
    p.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="device option"
    )
    p.add_argument("--replay", metavar="CAPTURE", help="play back a file from capleak capture")
    f = p.add_argument_group("fault injection (windows: AT+DURATION of simulated time)")
    f.add_argument("--garbage", type=_probability, default=0.0, help="garbage burst per frame")
    f.add_argument("--bitflip", type=_probability, default=0.0, help="one bit flip per frame")
    f.add_argument(
        "--bad-checksum", type=_probability, default=0.0, help="checksum error per frame"
    )
    f.add_argument(
        "--sensor-off",
        type=_window,
        action="append",
        default=[],
        metavar="W",
        help="the device reports its sensor off (e.g. 30s+20s; repeatable)",
    )
    f.add_argument(
        "--silence",
        type=_window,
        action="append",
        default=[],
        metavar="W",
        help="send nothing and answer no polls",
    )
    f.add_argument(
        "--unplug",
        type=_window,
        action="append",
        default=[],
        metavar="W",
        help="close the port, reopen it after the window (a new pty: use --link)",
    )
    f.add_argument("--seed", type=int, default=0, help="random seed for the faults")
    p.set_defaults(func=run)


def _announce(path: str) -> None:
    print(path, flush=True)
    if path.startswith("socket://"):
        print(
            f"capleak simulate: listening on {path}; waiting for a client to connect "
            "(point the agent's device port at it); nothing is sent until one does",
            file=sys.stderr,
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    # Imported here, not at module level: every `capleak` start builds this parser.
    from drivers.simulator import Faults, Simulator, make_model, open_endpoint

    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        endpoint = open_endpoint(args.port, args.link)
        if args.replay:
            from drivers.capture import read_capture
            from drivers.simulator import replay_capture

            with open(args.replay, encoding="ascii") as f:
                sent = replay_capture(
                    read_capture(f), endpoint, args.speed, lambda: stopping, _announce
                )
            log.info("replayed %d bytes", sent)
            return 0
        if not args.device:
            print("capleak simulate: --device is required (or --replay)", file=sys.stderr)
            return 2
        start = parse_time(args.start) if args.start else time.time()
        duration = parse_duration(args.duration) if args.duration else None
        options = dict(o.partition("=")[::2] for o in args.option)
        model = make_model(args.device, options)
        signals = getattr(model, "signals", None)  # None: the model takes every signal
        scenario = load_scenario(args.scenario, start, source=args.device, signals=signals)
        faults = Faults(
            garbage=args.garbage,
            bitflip=args.bitflip,
            bad_checksum=args.bad_checksum,
            sensor_off=tuple(args.sensor_off),
            silence=tuple(args.silence),
            unplug=tuple(args.unplug),
            seed=args.seed,
        )
        sim = Simulator(
            model,
            endpoint,
            scenario,
            ScaledClock(start, args.speed),
            faults,
            on_open=_announce,
        )
        sim.run(lambda: stopping, duration)
    except (ValueError, OSError) as e:
        print(f"capleak simulate: {e}", file=sys.stderr)
        return 2
    log.info("sent %d frames (%d bytes dropped)", sim.frames_sent, sim.bytes_dropped)
    return 0
