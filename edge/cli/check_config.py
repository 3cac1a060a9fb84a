"""``capleak check-config FILE``: validate a configuration without starting anything."""

from __future__ import annotations

import argparse

from drivers.registry import check_options, driver_names
from edge.config import ConfigError, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a capleak TOML configuration. Exits 0 when "
        "it is valid, 78 with a message naming the key when it is not.",
    )
    p.add_argument("file", help="the TOML configuration file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.file, known_drivers=driver_names())
    for i, d in enumerate(cfg.devices):
        try:
            check_options(d.driver, d.id, d.options)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"devices[{i}].options", str(e), args.file) from None
    devices = ", ".join(f"{d.id} ({d.driver} on {d.port})" for d in cfg.devices) or "none"
    print(
        f"{args.file}: OK. Bed {cfg.bed.site}/{cfg.bed.unit}/{cfg.bed.bed}; "
        f"devices: {devices}; broker {cfg.broker.url}"
    )
    return 0
