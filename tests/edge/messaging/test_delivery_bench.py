"""Delivery figures under faults, repeated: ``scripts/bench-delivery`` (marker ``bench``).

Each round is one of the delivery tests' scenarios with real processes: the broker
killed with SIGKILL mid-stream, the broker stopped for a few seconds, the agent killed
with SIGKILL and restarted, and the network stalled then cut (a TCP proxy between the
agent and the broker). Every round asserts what the tests assert (nothing missing but
what a killed broker had acknowledged and held only in memory); the bench adds the
totals: messages, losses blamed on the broker, duplicates. ``CAPLEAK_BENCH_ROUNDS``
sets the rounds per scenario (default 5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.edge.messaging.test_delivery import KEEP_USER, run_agent_kill, run_stream
from tests.edge.messaging.test_status_order import StallingProxy
from tests.support import Mosquitto

ROUNDS = int(os.environ.get("CAPLEAK_BENCH_ROUNDS", "5"))


def broker_kill(broker: Mosquitto, state: Path) -> dict[str, int]:
    def crash() -> float:
        broker.kill()
        died = time.monotonic()
        time.sleep(0.5)
        broker.start()
        return died

    return run_stream(broker, state, 2000, 10, 0.004, crash, crash=True)


def broker_stop(broker: Mosquitto, state: Path) -> dict[str, int]:
    def outage() -> None:
        broker.stop()
        time.sleep(3)
        broker.start()

    return run_stream(broker, state, 1500, 10, 0.01, outage)


def agent_kill(broker: Mosquitto, state: Path) -> dict[str, int]:
    return run_agent_kill(broker, state, 2000)


def network_cut(broker: Mosquitto, state: Path) -> dict[str, int]:
    proxy = StallingProxy((broker.host, broker.port))

    def partition() -> None:
        proxy.stalled.set()  # packets from the agent vanish
        time.sleep(2)
        proxy.cut()  # then the connection drops; the agent reconnects through the proxy
        proxy.stalled.clear()

    try:
        return run_stream(
            broker, state, 1500, 10, 0.01, partition, url=f"mqtt://127.0.0.1:{proxy.port}"
        )
    finally:
        proxy.close()


SCENARIOS: dict[str, Callable[[Mosquitto, Path], dict[str, int]]] = {
    "broker kill -9": broker_kill,
    "broker stopped 3 s": broker_stop,
    "agent kill -9 + restart": agent_kill,
    "network stall 2 s + cut": network_cut,
}


@pytest.mark.bench
@pytest.mark.timeout(3600)
def test_delivery_figures(mosquitto_factory, tmp_path: Path) -> None:
    rows = []
    failures: list[str] = []
    for name, scenario in SCENARIOS.items():
        total = {"sent": 0, "lost_by_broker": 0, "duplicates": 0, "failed": 0}
        for i in range(ROUNDS):
            tag = f"{name.split()[0]}{name.split()[1]}{i}"
            broker = mosquitto_factory(KEEP_USER, name=tag)
            try:
                figures = scenario(broker, tmp_path / tag)
            except AssertionError as e:  # a round the delivery tests would fail: count it
                total["failed"] += 1
                failures.append(f"{name} round {i + 1}: {str(e).splitlines()[0]}")
            else:
                for k in ("sent", "lost_by_broker", "duplicates"):
                    total[k] += figures[k]
            broker.stop()
        rows.append((name, ROUNDS, total))
    lines = [
        "| scenario | rounds | messages | lost (broker's) | rounds failed | duplicates |",
        "|---|---|---|---|---|---|",
    ]
    for name, rounds, t in rows:
        lines.append(
            f"| {name} | {rounds} | {t['sent']} | {t['lost_by_broker']} | {t['failed']} "
            f"| {t['duplicates']} |"
        )
    # figures for a person, as the other benchmark scripts print them
    print("\n" + "\n".join(lines + failures))
    assert not failures, "\n".join(failures)
