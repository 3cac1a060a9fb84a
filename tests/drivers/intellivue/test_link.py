"""IntelliVue through the product's own pieces: `capleak simulate` -> pty -> DeviceLink
(driving the session), and `capleak capture` / `capleak decode` on its bytes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from drivers.intellivue.framing import FrameReader
from drivers.intellivue.messages import parse_message
from drivers.intellivue.session import IntelliVueSession
from drivers.registry import get_driver
from drivers.transport import DeviceLink, DeviceStatus, SerialSettings
from edge.clock import SystemClock
from edge.vocabulary import Reading
from tests.drivers.conftest import SimProcess
from tests.support import run_cli, wait_for

SCENARIO = "spo2=96,pulse=77,pi=1.8,sbp=117,dbp=75,map=89"


class Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.readings: list[Reading] = []
        self.statuses: list[DeviceStatus] = []
        self.tx: list[bytes] = []

    def reading(self, r: Reading) -> None:
        with self.lock:
            self.readings.append(r)

    def status(self, s: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append(s)

    def on_bytes(self, direction: str, data: bytes, t: float) -> None:
        if direction == "tx":
            with self.lock:
                self.tx.append(data)

    def signals(self, since: int = 0) -> list[str]:
        with self.lock:
            return [r.signal for r in self.readings[since:]]

    def count(self) -> int:
        with self.lock:
            return len(self.readings)


def intellivue_link(port: str, sink: Sink, **options: str) -> DeviceLink:
    settings = SerialSettings(device_id="mp70", port=port, options=dict(options))
    return DeviceLink(
        settings,
        get_driver("intellivue"),
        SystemClock(),
        sink.reading,
        sink.status,
        on_bytes=sink.on_bytes,
    )


def test_devicelink_drives_the_session_against_capleak_simulate(
    simulator: Callable[..., SimProcess], tmp_path: Path
) -> None:
    port = str(tmp_path / "mp70")
    simulator(
        "--device",
        "intellivue",
        "--link",
        port,
        "--scenario",
        SCENARIO,
        "--option",
        "abort_every=4",
        "--bad-checksum",
        "0.1",
    )
    sink = Sink()
    link = intellivue_link(port, sink, reassociate_delay_s="0.3").start()
    try:
        wait_for(lambda: {"sbp", "spo2", "pulse", "pi"} <= set(sink.signals()), 15, message="data")
        session = link.session
        assert isinstance(session, IntelliVueSession)
        # the monitor drops the association every 4 s: the session re-associates
        wait_for(lambda: session.events["abort_received"] >= 1, 15, message="abort")
        wait_for(lambda: session.events["associated"] >= 2, 15, message="re-association")
        mark = sink.count()
        wait_for(lambda: "spo2" in sink.signals(mark), 10, message="data after re-association")
    finally:
        link.stop()
    with sink.lock:
        values = {r.signal: r.value for r in sink.readings}
        assert all(r.source == "mp70" and r.time is not None for r in sink.readings)
        assert [s.online for s in sink.statuses] == [True]
        tx = b"".join(sink.tx)
    assert values == {"spo2": 96, "pulse": 77, "pi": 1.8, "sbp": 117, "dbp": 75, "map": 89}
    # what the link wrote went through on_bytes: association, MDS answer, polls, release
    kinds = [parse_message(u).kind for u in FrameReader().feed(tx)]
    assert kinds[:2] == ["assoc_request", "event_result"]
    assert "poll_request" in kinds and kinds[-1] == "release_request"
    assert sum(k == "assoc_request" for k in kinds) >= 2


def test_devicelink_reassociates_after_unplug(
    simulator: Callable[..., SimProcess], tmp_path: Path
) -> None:
    port = str(tmp_path / "mp70")
    simulator("--device", "intellivue", "--link", port, "--scenario", SCENARIO, "--unplug", "3s+2s")
    sink = Sink()
    link = intellivue_link(port, sink).start()
    try:
        wait_for(lambda: "spo2" in sink.signals(), 15, message="data")
        wait_for(lambda: link.reconnects >= 1, 15, message="unplug noticed")
        mark = sink.count()
        wait_for(lambda: "spo2" in sink.signals(mark), 20, message="data after replug")
        assert link.session is not None and link.session.associated
    finally:
        link.stop()


def test_capture_then_decode_cli(simulator: Callable[..., SimProcess], tmp_path: Path) -> None:
    port = str(tmp_path / "mp70")
    simulator("--device", "intellivue", "--link", port, "--scenario", SCENARIO)
    capture = tmp_path / "mp70.capture"
    done = run_cli(
        "capture",
        "--port",
        port,
        "--driver",
        "intellivue",
        "--out",
        str(capture),
        "--duration",
        "4",
    )
    assert done.returncode == 0, done.stderr.decode()
    from drivers.capture import read_capture

    with capture.open(encoding="ascii") as f:
        chunks = list(read_capture(f))
    tx = b"".join(data for _, direction, data in chunks if direction == "tx")
    kinds = [parse_message(u).kind for u in FrameReader().feed(tx)]
    assert kinds[:2] == ["assoc_request", "event_result"] and "poll_request" in kinds
    decoded = run_cli("decode", "--driver", "intellivue", "--capture", str(capture))
    assert decoded.returncode == 0, decoded.stderr.decode()
    readings = [json.loads(line) for line in decoded.stdout.decode().splitlines()]
    got = {r["signal"]: r["value"] for r in readings}
    assert got == {"spo2": 96, "pulse": 77, "pi": 1.8, "sbp": 117, "dbp": 75, "map": 89}
    assert all("time" in r for r in readings)


def test_check_config_rejects_bad_intellivue_options(tmp_path: Path) -> None:
    from tests.support import REPO

    example = (REPO / "examples" / "capleak.toml").read_text()
    device = (
        '[[devices]]\nid = "monitor"\ndriver = "intellivue"\nport = "/dev/null"\n'
        "options = { poll_interval_s = 2.0, silence_s = 1.0 }\n\n"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(example.replace("[broker]", device + "[broker]", 1))
    r = run_cli("check-config", str(bad))
    assert r.returncode == 78
    err = r.stderr.decode()
    assert "devices[1].options" in err and "silence_s" in err
    good = tmp_path / "good.toml"
    good.write_text(bad.read_text().replace("silence_s = 1.0", "silence_s = 10.0"))
    assert run_cli("check-config", str(good)).returncode == 0
