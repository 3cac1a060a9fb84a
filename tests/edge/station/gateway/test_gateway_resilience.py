"""The gateway loses nothing when its own store fails or when it is SIGKILLed.

Real parts only: mosquitto, the ``capleak gateway`` process, the MLLP receiver process,
the gateway's SQLite file. The store is made to fail for real: the test lowers the
gateway process's file-size limit (``RLIMIT_FSIZE``, ``prlimit``) to 1 byte, so every
write SQLite makes to ``gateway.sqlite3`` or its WAL fails with ``disk I/O error`` as on
a full disk (CPython ignores ``SIGXFSZ``, so the write fails instead of the process);
the gateway's log goes through a pipe, which the limit does not touch.
"""

from __future__ import annotations

import json
import resource
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.edge.station.gateway.support import (
    T0,
    Bed,
    Gateway,
    MllpReceiver,
    gateway_cmd,
    obx_values,
    segments,
)
from tests.support import Mosquitto, wait_for

PHASES = ("start", "update", "end")


def event(bed: Bed, i: int, t: float) -> tuple[str, str]:
    """Publish alert event ``i`` of a start/update/end cycle; returns (alert id, phase)."""
    phase = PHASES[i % 3]
    bed.alert(
        t, n=i // 3, phase=phase, state="inactive" if phase == "end" else "active", message=f"#{i}"
    )
    return f"a{i // 3}", phase


def reported(messages: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """PV1-3 (the bed) -> [(alert id, phase), ...] in arrival order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for m in messages:
        segs = segments(m["raw"])
        bed = segs[2][3]
        out.setdefault(bed, []).append((segs[3][2].split("^")[0], obx_values(m["raw"])["68481"]))
    return out


def set_file_size_limit(pid: int, limit: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_store_that_cannot_be_written_loses_nothing_and_says_so(
    mosquitto: Mosquitto, tmp_path: Path, protocol: str
) -> None:
    """Both MQTT versions: the redelivery rests on the persistent session of each."""
    receiver = MllpReceiver(tmp_path).start()
    state = tmp_path / "state"
    gw = Gateway(
        gateway_cmd(
            mosquitto.url, receiver.url, state, "--continue-s", "3600", "--protocol", protocol
        ),
        tmp_path / "gateway.log",
    ).start()
    assert gw.proc is not None
    bed = Bed(mosquitto.host, mosquitto.port)
    expected = []
    try:
        expected += [event(bed, i, T0 + i) for i in range(3)]
        receiver.wait_for(3, kind="ORU^R40")
        assert (state / "gateway.sqlite3").stat().st_size > 0

        set_file_size_limit(gw.proc.pid, 1)  # the disk is full, for the gateway only
        expected += [event(bed, i, T0 + i) for i in range(3, 9)]
        wait_for(
            lambda: gw.stderr().count("could not take a message") >= 2,
            15,
            message="a failed store and a failed redelivery",
        )
        gw.proc.send_signal(signal.SIGUSR1)
        line = wait_for(
            lambda: next((x for x in gw.stderr().splitlines() if "status: {" in x), None),
            10,
            message="the status logged on SIGUSR1",
        )
        status = json.loads(line.split("status: ", 1)[1])
        assert status["intake"]["state"] in ("blocked", "failing")
        assert status["intake"]["store_failures"] >= 2
        assert "disk I/O error" in status["intake"]["last_store_error"]
        assert status["errors"]["store"] >= 2
        assert len(receiver.unique()) == 3, "a message the store did not hold was forwarded"

        set_file_size_limit(gw.proc.pid, resource.RLIM_INFINITY)  # space again
        got = receiver.wait_for(9, timeout=30, kind="ORU^R40")
    finally:
        bed.close()
        summary = gw.stop()
        receiver.stop()
    assert reported(got) == {"icu^^b3^h1": expected}, "lost, reordered or duplicated"
    assert summary["intake"]["state"] == "ok"
    assert summary["intake"]["reconnects"] >= 1
    assert summary["errors"]["store"] >= 2
    log = gw.stderr()
    assert "the broker will send it again" in log and "takes messages again" in log


def test_kill_9_and_restart_loses_nothing_and_keeps_each_beds_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Two beds publish 30 alert events each while the gateway is SIGKILLed in the middle
    and started again (same client id, same store). Every event arrives once per control
    id, in each bed's order; the only duplicate allowed is the one message that may have
    been acknowledged by the receiver but not yet deleted (at-least-once, same MSH-10)."""
    receiver = MllpReceiver(tmp_path).start()
    cmd = gateway_cmd(
        mosquitto.url,
        receiver.url,
        tmp_path / "state",
        "--continue-s",
        "3600",
        "--client-id",
        f"gw-kill-{uuid.uuid4().hex[:6]}",
    )
    gw = Gateway(cmd, tmp_path / "gateway.log").start()
    beds = [Bed(mosquitto.host, mosquitto.port, bed=f"h1/icu/b{n}") for n in (1, 2)]
    n_events = 30
    expected: dict[str, list[tuple[str, str]]] = {"icu^^b1^h1": [], "icu^^b2^h1": []}

    def publish() -> None:
        for i in range(n_events):
            for bed in beds:
                expected[f"icu^^{bed.bed.rsplit('/', 1)[1]}^h1"].append(event(bed, i, T0 + i))
            time.sleep(0.03)

    publisher = threading.Thread(target=publish)
    try:
        publisher.start()
        receiver.wait_for(12, timeout=20, kind="ORU^R40")
        gw.kill()
        killed_at = len(receiver.unique())
        gw = Gateway(cmd, tmp_path / "gateway-restarted.log").start()
        publisher.join(30)
        got = receiver.wait_for(2 * n_events, timeout=40, kind="ORU^R40")
    finally:
        publisher.join(30)
        for bed in beds:
            bed.close()
        summary = gw.stop()
        receiver.stop()
    assert killed_at < 2 * n_events, "the kill came too late to test anything"
    assert reported(got) == expected
    assert len(receiver.messages()) - len(receiver.unique()) <= 1
    assert summary["store"]["dead_letters"] == 0 and summary["queued"]["hl7"] == 0
