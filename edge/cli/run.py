"""``capleak run --config FILE``: the bedside agent (what systemd starts).

Exit status 0 after a clean stop (SIGTERM, SIGINT), 78 for a configuration
error (systemd's ``RestartPreventExitStatus=78`` then stops a restart loop),
including storage a person must fix (a read-only or damaged outbox), 1 for
anything else. Before an exit 78 the agent publishes, best effort, a retained
``offline`` status whose ``reason`` names the key and the problem. See
:mod:`edge.agent.runtime`.
"""

from __future__ import annotations

import argparse
import logging
import os

from edge.config import ConfigError

log = logging.getLogger("capleak.runtime")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the bedside agent",
        description="Read the configured serial devices, compute the trends and alerts, "
        "and publish them over MQTT (store-and-forward through the outbox). "
        "Stops cleanly on SIGTERM/SIGINT. Speaks the systemd notify protocol "
        "when started with Type=notify.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the TOML configuration")
    # The demo's shared scaled clock (also CAPLEAK_CLOCK=start=,speed=,anchor=).
    p.add_argument("--clock", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drivers.registry import driver_names
    from edge.agent.runtime import (
        AlreadyRunning,
        Runtime,
        configure_logging,
        say_offline,
        state_dir_writable,
    )
    from edge.clock import clock_from_spec
    from edge.config import load_config

    configure_logging(args.verbose)
    config = load_config(args.config, known_drivers=driver_names())
    try:
        state_dir_writable(config.storage.state_dir)
        spec = args.clock if args.clock is not None else os.environ.get("CAPLEAK_CLOCK", "")
        try:
            clock = clock_from_spec(spec)
        except ValueError as e:
            raise ConfigError("CAPLEAK_CLOCK", str(e)) from None
        runtime = Runtime(config, clock=clock)
        runtime.install_signal_handlers()
        try:
            return runtime.run()
        except AlreadyRunning as e:  # the other agent speaks for the bed: say nothing
            log.error("%s", e)
            return 1
    except ConfigError as e:
        # Exit 78: systemd will not restart it and the bed is not monitored. The config
        # was read, so the broker is known: the station learns it, and why.
        say_offline(config, f"the agent cannot run: {e.key}: {e.problem}")
        raise
