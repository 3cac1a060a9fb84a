"""Shared fixtures: real mosquitto, real ptys. Hypothesis profiles: ``ci`` when CI is set.

The ``ci`` profile is *not* derandomized: a derandomized run explores the same
examples every time and hides every failure it happens to miss. Instead the run
draws one seed (unless ``--hypothesis-seed`` is given), shows it in the header and,
when a test failed, at the end: ``--hypothesis-seed=N`` replays the whole run.
Examples are bounded and there is no deadline (a loaded CI machine is not a bug).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import Collector, Mosquitto, Pty

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """In the ``ci`` profile, draw the run's hypothesis seed here so it can be printed."""
    if settings.get_current_profile_name() != "ci":
        return
    if config.getoption("hypothesis_seed", None) is None:
        # Before hypothesis' own pytest_configure, which turns the option into its seed.
        config.option.hypothesis_seed = str(random.SystemRandom().randrange(2**32))


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("hypothesis_seed", None)
    return None if seed is None else f"hypothesis seed: {seed} (--hypothesis-seed={seed})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    seed = terminalreporter.config.getoption("hypothesis_seed", None)
    if seed is not None and exitstatus != 0:
        terminalreporter.write_line(
            f"hypothesis seed of this run: {seed}; replay it with --hypothesis-seed={seed}"
        )


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
