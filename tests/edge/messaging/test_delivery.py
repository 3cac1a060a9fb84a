"""Nothing lost: kill -9 the broker, kill -9 the agent, stop the broker; real processes.

After each, the subscriber has every ``seq`` at least once and, taking the first
copy of each ``msg_id``, every topic's messages in ``seq`` order.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.messaging.outbox import Outbox, Outgoing
from edge.messaging.publisher import Publisher
from edge.station.model import Station
from tests.edge.messaging.support import bed_config, validate
from tests.support import REPO, Collector, Mosquitto, wait_for

#: mosquitto started as root drops to the ``mosquitto`` user, which cannot write the
#: test's private temp dir: without ``user root`` its persistence (and log) silently
#: fail. ``max_inflight_messages 0``: mosquitto writes each message to the subscriber
#: at once instead of queueing it in memory behind 20 unacknowledged ones; a message
#: the broker acknowledged to the agent but only held in memory dies with a kill -9 of
#: the broker, and no publisher can prevent that loss.
KEEP_USER = "user root\nmax_inflight_messages 0\n"


@pytest.fixture
def broker(mosquitto_factory) -> Mosquitto:
    """A broker whose persistence works (so a subscriber's session survives kill -9)."""
    return mosquitto_factory(KEEP_USER)


def durable_collector(broker: Mosquitto) -> Collector:
    """A subscriber whose session survives a broker crash (saved by a clean restart)."""
    col = Collector(
        broker.host, broker.port, "capleak/#", protocol=mqtt.MQTTv311, clean_session=False
    )
    col.client.reconnect_delay_set(0.05, 0.5)
    broker.restart()  # SIGTERM: mosquitto saves the session and subscription to disk
    wait_for(col.client.is_connected, 15, message="collector reconnect")
    return col


def wait_all_seqs(
    col: Collector, last: int, timeout: float = 30, excused: Callable[[int], bool] | None = None
) -> set[int]:
    """Wait for every seq below ``last``; return the excused ones that never came."""

    def missing() -> list[int]:
        with col._lock:
            got = {json.loads(m.payload)["seq"] for m in col.messages}
        return sorted(set(range(1, last)) - got)

    def settled() -> bool:
        gone = missing()
        if not gone:
            return True
        return excused is not None and all(map(excused, gone)) and time.monotonic() > quiet_until

    quiet_until = time.monotonic() + 3  # excused losses: give late copies a chance first
    try:
        wait_for(settled, timeout, message="all seqs at the subscriber")
    except AssertionError:
        gone = missing()
        raise AssertionError(
            f"{len(gone)} seqs never arrived (first {gone[:5]}, last {gone[-5:]}); "
            f"subscriber connected: {col.client.is_connected()}"
        ) from None
    return set(missing())


def check_delivery(
    col: Collector, last_seq: int, lost: set[int] = frozenset()
) -> tuple[dict[str, list[int]], int]:
    """Every seq 1..last_seq received (but ``lost``); per topic, first copies in seq order.

    Returns the first copies' seqs per topic and the number of extra copies (QoS 1
    allows them; the station drops them by ``msg_id``).
    """
    with col._lock:
        msgs = list(col.messages)
    first: dict[str, dict] = {}
    per_topic: dict[str, list[int]] = defaultdict(list)
    for m in msgs:
        body = json.loads(m.payload)
        if body["msg_id"] in first:
            continue
        first[body["msg_id"]] = body
        if not body.get("will"):
            per_topic[m.topic].append(body["seq"])
    seqs = {b["seq"] for b in first.values()}
    missing = sorted(set(range(1, last_seq + 1)) - seqs - lost)
    assert not missing, f"{len(missing)} seqs missing, first {missing[:10]}"
    for topic, order in per_topic.items():
        if not topic.endswith("/status"):
            assert order == sorted(order), f"order broken on {topic}"
    station = Station()  # the reference station agrees: duplicates dropped, no gap left
    for m in msgs:
        station.receive(m.topic, m.payload, m.retain)
    assert station.beds["s1/u1/b1"].missing() == len(lost)
    assert station.beds["s1/u1/b1"].messages == len(first)
    return per_topic, len(msgs) - len(first)


def produce(pub: Publisher, n: int, batch: int, pause: float, done: threading.Event) -> None:
    for k in range(0, n, batch):
        pub.enqueue(
            Outgoing(pub.topic("test/alerts" if i % 2 else "test/vitals"), {"i": i},
                     "alert" if i % 2 else "vitals")
            for i in range(k, min(n, k + batch))
        )  # fmt: skip
        time.sleep(pause)
    done.set()


def run_stream(
    broker: Mosquitto,
    state: Path,
    n: int,
    batch: int,
    pause: float,
    disrupt,
    crash: bool = False,
    url: str | None = None,
) -> dict[str, int]:
    """Stream ``n`` messages through a publisher, ``disrupt()`` a quarter of the way in.

    ``crash``: the broker is killed. A message the broker acknowledged (so the agent
    deleted it) and still held only in its memory or socket buffers dies with it;
    no publisher can prevent that. Such a message is excused only if its PUBACK
    arrived before the broker process was dead (the time ``disrupt`` returns;
    a PUBACK in flight while SIGKILL lands counts as before); anything else
    missing fails the test. ``url``: where the publisher connects (default the broker;
    a proxy for network faults). Returns the figures ``scripts/bench-delivery`` prints.
    """
    col = durable_collector(broker)
    cfg = bed_config(url or broker.url, state)
    acked_at: dict[int, float] = {}
    status_seqs: set[int] = set()
    killed_at: list[float] = []
    with Outbox.in_dir(state) as box:
        pub = Publisher(cfg, box, reconnect_delay=(0.1, 1.0))
        on_publish, status_payload = pub._on_publish, pub._status_payload

        def recording_on_publish(client, userdata, mid, reason_code, properties):
            # the PUBACK's arrival (paho's network thread), not the later delete: under
            # CPU load the pump can settle a PUBACK that came before the kill after it
            seq = pub._inflight.get(mid)
            if seq is not None:
                acked_at.setdefault(seq, time.monotonic())
            return on_publish(client, userdata, mid, reason_code, properties)

        def recording_status(state: str, **extra):
            body = status_payload(state, **extra)
            status_seqs.add(json.loads(body)["seq"])
            return body

        delete = box.delete

        def recording_delete(seqs):  # the fallback: a PUBACK that beat the pump's bookkeeping
            return delete(recording(seqs))

        put_many = box.put_many

        def recording_put_many(items, state=None, *, delete=()):  # the group commit's deletes
            return put_many(items, state, delete=recording(delete))

        def recording(seqs):
            seqs = list(seqs)
            now = time.monotonic()
            for seq in seqs:
                acked_at.setdefault(seq, now)
            return seqs

        box.delete = recording_delete  # type: ignore[method-assign]
        box.put_many = recording_put_many  # type: ignore[method-assign]
        pub._on_publish = recording_on_publish  # type: ignore[method-assign]
        pub._status_payload = recording_status  # type: ignore[method-assign]
        pub.start()
        try:
            assert pub.wait_connected(10)
            done = threading.Event()
            t = threading.Thread(target=produce, args=(pub, n, batch, pause, done))
            t.start()
            wait_for(lambda: len(col.messages) > n // 4, 30, message="a quarter of the stream")
            began = time.monotonic()
            died = disrupt()  # a crash returns when the broker process was dead
            killed_at.append(died if died is not None else began)
            t.join(120)
            assert done.is_set()
            assert pub.wait_idle(60), f"outbox still holds {box.depth()}"
            last = box.last_seq

            def broker_lost(seq: int) -> bool:
                # a retained status is published straight through paho, never stored in
                # the outbox; a later status supersedes one the killed broker held
                return crash and (acked_at.get(seq, math.inf) < killed_at[0] or seq in status_seqs)

            lost = wait_all_seqs(col, last, excused=broker_lost)
            assert len(lost) <= pub.window  # at most what the broker held when it died
            assert pub.connects >= 2
        finally:
            pub.stop()
            col.close()
    per_topic, duplicates = check_delivery(col, last, lost)
    data_lost = lost - status_seqs
    assert sum(len(v) for k, v in per_topic.items() if "/test/" in k) == n - len(data_lost)
    return {"sent": last, "lost_by_broker": len(lost), "duplicates": duplicates}


def test_broker_killed_mid_stream(broker: Mosquitto, tmp_path: Path) -> None:
    def crash() -> float:
        broker.kill()  # returns once the process has exited: no PUBACK can follow
        died = time.monotonic()
        time.sleep(0.5)
        broker.start()
        return died

    run_stream(broker, tmp_path / "state", 3000, 10, 0.004, crash, crash=True)


def test_broker_stopped_for_a_while(broker: Mosquitto, tmp_path: Path) -> None:
    def outage() -> None:
        broker.stop()
        time.sleep(12)
        broker.start()

    run_stream(broker, tmp_path / "state", 2000, 10, 0.01, outage)


@pytest.mark.soak
def test_broker_stopped_for_a_minute(broker: Mosquitto, tmp_path: Path) -> None:
    def outage() -> None:
        broker.stop()
        time.sleep(60)
        broker.start()

    run_stream(broker, tmp_path / "state", 10000, 10, 0.01, outage)


def test_agent_killed_mid_stream_then_restarted(broker: Mosquitto, tmp_path: Path) -> None:
    run_agent_kill(broker, tmp_path / "state", 3000)


def run_agent_kill(broker: Mosquitto, state: Path, n: int) -> dict[str, int]:
    """Kill -9 a publishing agent a third of the way in, restart it: nothing lost."""
    col = durable_collector(broker)
    cmd = [
        sys.executable,
        "-m",
        "tests.edge.messaging.stream_agent",
        broker.url,
        str(state),
        str(n),
    ]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(col.messages) > n // 3, 60, message="a third of the stream")
        first.kill()  # SIGKILL: no clean shutdown, unacknowledged rows stay in the outbox
        first.wait(10)
        killed_at = Outbox.in_dir(state).last_seq
        assert killed_at < n, "the agent finished before it was killed"
        # the broker published the agent's Will: offline, retained
        (will,) = wait_for(
            lambda: [m for m in col.messages if b'"will":true' in m.payload], 15, message="the Will"
        )
        assert validate(will.topic, will.payload)["state"] == "offline"
        second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip().endswith("done")
        with Outbox.in_dir(state) as box:
            last = box.last_seq
            assert box.depth() == 0
        wait_all_seqs(col, last)
    finally:
        if first.poll() is None:
            first.kill()
        col.close()
    per_topic, duplicates = check_delivery(col, last)
    data = sum(len(v) for k, v in per_topic.items() if "/test/" in k)
    status = sum(len(v) for k, v in per_topic.items() if k.endswith("/status"))
    assert data + status == last  # the status messages take seqs of the same counter
    assert n <= last <= n + 1  # + the offline status of the clean stop
    return {"sent": last, "lost_by_broker": 0, "duplicates": duplicates}
