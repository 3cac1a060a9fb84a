"""The gateway's numbers, each with its default and where it comes from.

``capleak gateway`` takes each as an option of the same name (``--continue-s 30``);
:func:`validate` checks them against the bounds recorded here, so a bad value is a
:class:`~edge.config.ConfigError` naming the option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edge.config import ConfigError, setting


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    continue_s: float = setting(
        30.0,
        doc="re-send a PCD-04 'continue' for an alert still active or latched this often "
        "(issue 17; IHE PCD TF-2 3.4: an alert manager expects periodic status of standing "
        "alerts so it can tell a silent reporter from an ended alert)",
        min=1,
        max=3600,
    )
    ack_timeout_s: float = setting(
        10.0,
        doc="wait this long for the receiver's ACK before the connection is dropped and the "
        "message sent again (HL7 v2.6 section 2.9.2 leaves it to the site; interface engines "
        "commonly wait 5-30 s)",
        min=0.5,
        max=300,
    )
    retry_min_s: float = setting(
        0.5,
        doc="first retry delay after a failed connection or a missing ACK; doubles per "
        "failure (as the agent's MQTT backoff, messaging.md)",
        min=0.05,
        max=60,
    )
    retry_max_s: float = setting(
        10.0,
        doc="longest retry delay: a receiver back after an outage gets its backlog within "
        "this long (the agent's MQTT backoff cap, messaging.md)",
        min=0.1,
        max=600,
    )
    max_messages: int = setting(
        100_000,
        doc="messages the gateway's store holds for the receivers; when full the oldest vitals "
        "go first, never alerts (a day of 20 beds' 1 s vitals is about 1.7 million, so this "
        "is about 1.5 h of a full ward's vitals, plus every alert)",
        min=100,
        max=10_000_000,
    )
    dedup_size: int = setting(
        100_000,
        doc="MQTT msg_ids remembered for de-duplication, as the reference station (model.py)",
        min=1000,
        max=10_000_000,
    )
    dead_letters_kept: int = setting(
        1000,
        doc="refused messages (AE/AR, 4xx) kept for diagnosis, as the outbox's dead_letter",
        min=10,
        max=1_000_000,
    )
    max_ack_bytes: int = setting(
        65_536,
        doc="an acknowledgement frame larger than this is a protocol error (an ACK is a few "
        "hundred bytes; ORA^R41 a few kilobytes)",
        min=1024,
        max=16 * 1024 * 1024,
    )


def validate(s: GatewaySettings) -> GatewaySettings:
    """``s`` unchanged, or :class:`ConfigError` for the first value out of its bounds."""
    for f in dataclasses.fields(s):
        value: Any = getattr(s, f.name)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        name = "--" + f.name.replace("_", "-")
        if lo is not None and value < lo:
            raise ConfigError(name, f"must be at least {lo:g}, got {value:g}")
        if hi is not None and value > hi:
            raise ConfigError(name, f"must be at most {hi:g}, got {value:g}")
    if s.retry_min_s > s.retry_max_s:
        raise ConfigError("--retry-min-s", "must not exceed --retry-max-s")
    return s
