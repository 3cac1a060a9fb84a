"""Simulator process -> real pty / TCP -> DeviceLink -> driver -> Readings."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.registry import get_driver
from drivers.transport import DeviceLink, DeviceStatus, SerialSettings
from edge.clock import SystemClock
from edge.vocabulary import Reading
from tests.drivers.conftest import SimProcess
from tests.drivers.helpers import PtyWriter, garbage, masimo_line
from tests.support import free_port, wait_for


class Sink:
    """Collects what a DeviceLink reports, with the (real) time it arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.readings: list[Reading] = []
        self.statuses: list[tuple[float, DeviceStatus]] = []

    def reading(self, r: Reading) -> None:
        with self.lock:
            self.readings.append(r)

    def status(self, s: DeviceStatus) -> None:
        with self.lock:
            self.statuses.append((time.monotonic(), s))

    def values(self, signal: str) -> list[float]:
        with self.lock:
            return [r.value for r in self.readings if r.signal == signal]

    def states(self) -> list[bool]:
        with self.lock:
            return [s.online for _, s in self.statuses]


def listening(port: int) -> bool:
    """Whether something listens on TCP ``port`` (Linux /proc/net/tcp, state 0A)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            local, state = line.split()[1], line.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "0A":
                return True
    return False


def link_for(port: str, driver: str, sink: Sink, **cfg) -> DeviceLink:
    settings = SerialSettings(device_id="dev1", port=port, **cfg)
    return DeviceLink(settings, get_driver(driver), SystemClock(), sink.reading, sink.status)


CASES = [
    ("masimo-ascii", "spo2=95,pulse=70,pi=2.5", {}, {"spo2": 95.0, "pulse": 70.0, "pi": 2.5}),
    ("nonin-df2", "spo2=93,pulse=88", {}, {"spo2": 93.0, "pulse": 88.0}),
    ("nonin-df7", "spo2=92,pulse=99", {}, {"spo2": 92.0, "pulse": 99.0}),
    ("nonin-df1", "spo2=90,pulse=111", {}, {"spo2": 90.0, "pulse": 111.0}),
    ("ad-scale", "weight=70.25/1s", {}, {"weight": 70.25}),
    ("mt-sics", "weight=72.5", {"poll_interval_s": 0.3}, {"weight": 72.5}),
    ("nellcor-n595", "spo2=94,pulse=101", {}, {"spo2": 94.0, "pulse": 101.0}),
]


@pytest.mark.parametrize(("driver", "scenario", "cfg", "want"), CASES, ids=[c[0] for c in CASES])
def test_simulator_to_readings_over_a_pty(
    simulator: Callable[..., SimProcess], driver: str, scenario: str, cfg: dict, want: dict
) -> None:
    speed = "4" if driver == "nellcor-n595" else "1"  # a line every 2 s: run faster
    sim = simulator("--device", driver, "--port", "pty", "--scenario", scenario, "--speed", speed)
    sink = Sink()
    link = link_for(sim.path, driver, sink, **cfg).start()
    try:
        wait_for(lambda: all(len(sink.values(s)) >= 2 for s in want), 15, message="readings")
    finally:
        link.stop()
    assert not link.alive
    for signal, value in want.items():
        assert set(sink.values(signal)) == {value}
    with sink.lock:
        assert all(r.source == "dev1" and r.time is not None for r in sink.readings)
        assert abs(sink.readings[-1].time - time.time()) < 30
    assert sink.states()[0] is True


def test_accutorr_nibp_once_per_measurement(simulator: Callable[..., SimProcess]) -> None:
    """Polled every 0.3 s, measured every 2 s: each measurement arrives exactly once."""
    scenario = "sbp=130->100@30s/2s,map=95->75@30s/2s,dbp=80->60@30s/2s"
    sim = simulator("--device", "accutorr", "--port", "pty", "--scenario", scenario)
    sink = Sink()
    link = link_for(sim.path, "accutorr", sink, poll_interval_s=0.3).start()
    try:
        wait_for(lambda: len(sink.values("sbp")) >= 3, 20, message="three NIBP measurements")
    finally:
        link.stop()
    sbp = sink.values("sbp")
    assert sbp == sorted(sbp, reverse=True) and len(set(sbp)) == len(sbp)
    assert all(100 <= v <= 130 for v in sbp)
    assert len(sink.values("map")) == len(sbp) == len(sink.values("dbp"))
    assert not sink.values("spo2")  # the simulated monitor has no oximeter by default


def test_socket_device_server(simulator: Callable[..., SimProcess]) -> None:
    port = free_port()
    sim = simulator("--device", "nonin-df2", "--port", f"socket://127.0.0.1:{port}")
    assert sim.path == f"socket://127.0.0.1:{port}"
    sink = Sink()
    link = link_for(sim.path, "nonin-df2", sink).start()
    try:
        wait_for(lambda: len(sink.values("spo2")) >= 2, 15, message="readings over TCP")
    finally:
        link.stop()
    assert set(sink.values("spo2")) == {97.0}


def test_corrupted_nonin_stream_yields_only_true_values(
    simulator: Callable[..., SimProcess],
) -> None:
    sim = simulator(
        "--device", "nonin-df2", "--scenario", "spo2=91,pulse=77",
        "--bad-checksum", "0.01", "--bitflip", "0.01", "--garbage", "0.01", "--seed", "7",
    )  # fmt: skip
    sink = Sink()
    link = link_for(sim.path, "nonin-df2", sink).start()
    try:
        wait_for(lambda: len(sink.values("spo2")) >= 3, 20, message="readings despite faults")
    finally:
        link.stop()
    assert set(sink.values("spo2")) == {91.0} and set(sink.values("pulse")) == {77.0}
    assert sum(link.decoder.rejected.values()) > 0
    assert sink.states() == [True]  # sporadic corruption in a valid stream is not garbled


def test_sensor_off_period_stops_readings(simulator: Callable[..., SimProcess]) -> None:
    sim = simulator("--device", "masimo-ascii", "--scenario", "spo2=96,pulse=60",
                    "--sensor-off", "3s+2s")  # fmt: skip
    sink = Sink()
    link = link_for(sim.path, "masimo-ascii", sink).start()
    try:
        wait_for(lambda: len(sink.values("spo2")) >= 4, 15, message="readings after sensor-off")
    finally:
        link.stop()
    with sink.lock:
        times = sorted({r.time for r in sink.readings})
    assert max(b - a for a, b in itertools.pairwise(times)) >= 2.0  # the gap
    # the frames kept coming while the sensor was off: the link never went offline
    assert sink.states() == [True]
    assert link.decoder.rejected.total() == 0


@pytest.mark.parametrize("kind", ["pty", "socket"])
def test_unplug_replug(simulator: Callable[..., SimProcess], tmp_path: Path, kind: str) -> None:
    """Offline within the quiet time of the unplug; back online within 2 s of the replug."""
    quiet = 1.5
    if kind == "pty":
        port = str(tmp_path / "spo2")
        sim = simulator("--device", "nonin-df2", "--link", port, "--unplug", "2s+3s")

        def plugged() -> bool:
            return os.path.lexists(port)
    else:
        port = f"socket://127.0.0.1:{free_port()}"
        sim = simulator("--device", "nonin-df2", "--port", port, "--unplug", "2s+3s")
        num = port.rsplit(":", 1)[1]

        def plugged() -> bool:
            # Look, don't touch: a probe connection would take the server's only slot.
            return listening(int(num))

    assert sim.path
    sink = Sink()
    link = link_for(port, "nonin-df2", sink, max_quiet_s=quiet).start()
    try:
        wait_for(lambda: sink.states() == [True], 10, message="online")
        unplug = wait_for(lambda: not plugged() and time.monotonic(), 10, 0.01, "unplug")
        replug = wait_for(lambda: plugged() and time.monotonic(), 10, 0.01, "replug")
        wait_for(lambda: sink.states() == [True, False, True], 10, message="back online")
    finally:
        link.stop()
    (_, on1), (t_off, off), (t_on, on2) = sink.statuses
    assert on1.online and on2.online and not off.online
    assert "no data" in off.reason or "port" in off.reason
    assert t_off - unplug <= quiet + 0.5
    assert t_on - replug <= 2.0
    assert link.reconnects >= 1


def test_missing_port_goes_offline_then_online_when_it_appears(tmp_path: Path, simulator) -> None:
    link_path = tmp_path / "late"
    sink = Sink()
    settings = SerialSettings(device_id="dev1", port=str(link_path), max_quiet_s=1.0)
    link = DeviceLink(
        settings, get_driver("masimo-ascii"), SystemClock(), sink.reading, sink.status
    )
    link.start()
    try:
        wait_for(lambda: sink.states() == [False], 5, message="offline for a missing port")
        with sink.lock:
            assert "cannot open" in sink.statuses[0][1].reason
        simulator("--device", "masimo-ascii", "--link", str(link_path))
        wait_for(lambda: sink.values("spo2"), 10, message="readings once the port exists")
    finally:
        link.stop()
    assert sink.states() == [False, True]


def test_port_without_file_descriptor_polls_and_reads() -> None:
    """loop:// has no fileno: the fallback read path. Polls echo back as (malformed) answers,
    which are no sign of a device: the link never reports it online."""
    sink = Sink()
    link = link_for("loop://", "mt-sics", sink, poll_interval_s=0.2).start()
    try:
        wait_for(lambda: link.decoder.rejected["malformed"] >= 2, 10, message="echoed polls")
    finally:
        link.stop()
    assert not link.alive
    assert link.bytes_in >= 6 and sink.states() == [] and sink.readings == []


def test_a_raising_decoder_loses_one_chunk_not_the_link(pty_pair) -> None:
    """Decoders must not raise; if one does anyway, the link logs it and carries on."""
    import dataclasses

    from drivers.masimo_ascii import MasimoDecoder

    class Brittle(MasimoDecoder):
        def feed(self, data: bytes, now: float | None = None):
            if b"BOOM" in data:
                raise RuntimeError("bug")
            return super().feed(data, now)

    spec = dataclasses.replace(get_driver("masimo-ascii"), decoder=lambda s, o: Brittle(s, o))
    sink = Sink()
    settings = SerialSettings(device_id="dev1", port=pty_pair.path)
    link = DeviceLink(settings, spec, SystemClock(), sink.reading, sink.status).start()
    line = b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n"
    try:
        wait_for(lambda: link.bytes_in or pty_pair.write(b"\r\n"), 5, 0.1, "open")
        pty_pair.write(b"BOOM\r\n")
        time.sleep(0.2)
        pty_pair.write(line)
        wait_for(lambda: sink.values("spo2"), 5, message="readings after the failure")
    finally:
        link.stop()
    assert link.decoder.rejected["decoder_error"] == 1


def test_garbage_is_reported_garbled_and_valid_frames_end_it(pty_pair) -> None:
    """A wrong baud rate: bytes keep coming (so the device is never silent) but none
    makes a frame. Offline within the quiet time, naming it; online at the first valid line."""
    quiet = 1.0
    sink = Sink()
    device = PtyWriter(pty_pair, garbage(96), period=0.1)  # ~960 bytes/s: 9600 baud
    link = link_for(pty_pair.path, "masimo-ascii", sink, max_quiet_s=quiet).start()
    try:
        wait_for(lambda: sink.states() == [False], 10, message="garbled")
        with sink.lock:
            t_off, off = sink.statuses[0]
        assert device.first is not None and t_off - device.first <= quiet + 0.6
        assert off.reason.startswith("garbled: ") and "no valid frame for 1 s" in off.reason
        assert int(off.reason.split()[1]) > 0  # the byte count
        assert link.online is False and sink.readings == []
        device.say(masimo_line)
        wait_for(lambda: sink.states() == [False, True], 5, message="back online")
        wait_for(lambda: sink.values("spo2"), 5, message="readings")
    finally:
        device.stop()
        link.stop()
    assert link.reconnects == 0  # the port is fine: it is kept open
    assert sink.statuses[1][1].reason == "valid frames again"


def test_a_silent_scale_is_not_garbled_a_garbage_print_is(pty_pair) -> None:
    """A scale (no maximum quiet time) says nothing for long: never reported. A print
    that is garbage, with no valid print after it for the grace time, is."""
    grace = 0.8
    sink = Sink()
    settings = SerialSettings(device_id="scale", port=pty_pair.path)
    link = DeviceLink(
        settings, get_driver("ad-scale"), SystemClock(), sink.reading, sink.status,
        port_down_grace_s=grace,
    ).start()  # fmt: skip
    try:
        wait_for(lambda: link.alive, 5, message="started")
        time.sleep(grace * 2)
        assert sink.states() == []  # silence is normal for a scale
        pty_pair.write(b"ST,+00072.40 kg\r\n")
        wait_for(lambda: sink.states() == [True], 5, message="a valid print")
        time.sleep(grace * 1.5)
        assert sink.states() == [True]
        pty_pair.write(garbage(18)() + b"\r\n")  # a print at the wrong baud rate
        sent = time.monotonic()
        wait_for(lambda: sink.states() == [True, False], 5, message="garbled print")
        assert sink.statuses[1][0] - sent <= grace + 0.6
        assert sink.statuses[1][1].reason.startswith("garbled: ")
        pty_pair.write(b"ST,+00072.50 kg\r\n")
        wait_for(lambda: sink.states() == [True, False, True], 5, message="a valid print again")
    finally:
        link.stop()
    assert sink.values("weight") == [72.4, 72.5]
