"""Shared fixtures: real mosquitto, real ptys. Hypothesis profiles: ``ci`` when CI is set."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import Collector, Mosquitto, Pty

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start extra brokers (e.g. with TLS config); all are stopped at teardown."""
    brokers: list[Mosquitto] = []

    def make(extra_conf: str = "", anonymous: bool = True, name: str = "broker") -> Mosquitto:
        b = Mosquitto(tmp_path / f"{name}{len(brokers)}", extra_conf, anonymous=anonymous)
        brokers.append(b)
        return b.start()

    yield make
    for b in brokers:
        b.kill() if b.running else None
        b.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """A real mosquitto on a free port; ``.kill()``, ``.start()``, ``.restart()``."""
    return mosquitto_factory()


@pytest.fixture
def pty_pair() -> Iterator[Pty]:
    """A raw pseudo-terminal pair: ``.path`` is the device the driver opens."""
    p = Pty()
    yield p
    p.close()


@pytest.fixture
def collector(mosquitto: Mosquitto) -> Iterator[Collector]:
    c = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    yield c
    c.close()
