"""``capleak gateway`` end to end: real mosquitto, a real MLLP receiver process, the real CLI.

The bed publishes the MQTT contract; the receiver (the ``hl7`` package's asyncio MLLP
server, another process) records what arrives. Nothing here is a mock.
"""

from __future__ import annotations

import json
import time
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
from tests.support import Mosquitto, run_cli, wait_for


@pytest.fixture
def receiver(tmp_path: Path):
    r = MllpReceiver(tmp_path).start()
    yield r
    r.stop()


def test_vitals_and_alerts_arrive_as_pcd01_and_pcd04_and_bad_input_is_skipped(
    mosquitto: Mosquitto, receiver: MllpReceiver, tmp_path: Path
) -> None:
    fhir_dir = tmp_path / "fhir"
    gw = Gateway(
        gateway_cmd(mosquitto.url, receiver.url, tmp_path / "state", "--fhir", str(fhir_dir)),
        tmp_path / "gateway.log",
    ).start()
    bed = Bed(mosquitto.host, mosquitto.port)
    try:
        bed.vitals(T0, {"spo2": 97.0, "pulse": 88.0})
        bed.publish_raw("vitals", b'{"msg_id": "x", "seq": 1, "time": "now", "readings": []}')
        bed.publish_raw("alerts", b"not json at all")
        bed.alert(T0 + 1)
        vit = receiver.wait_for(1, kind="ORU^R01")
        alert = receiver.wait_for(1, kind="ORU^R40")
        wait_for(lambda: len(list(fhir_dir.glob("*.json"))) >= 2, 10, message="FHIR files")
    finally:
        bed.close()
        summary = gw.stop()
    assert len(receiver.unique()) == 2, "the two bad payloads were forwarded"
    assert summary["received"]["invalid"] == 2
    assert summary["senders"]["hl7"]["delivered"] == 2
    assert summary["queued"] == {"hl7": 0, "fhir": 0}
    log = gw.stderr()
    assert log.count("fails its schema") == 2
    assert "bad JSON" in log and "$.time: does not match" in log

    oru = segments(vit[0]["raw"])
    assert [s[0] for s in oru] == ["MSH", "PID", "PV1", "OBR", "OBX", "OBX", "OBX"]
    assert oru[0][8] == "ORU^R01^ORU_R01" and oru[0][11] == "2.6"
    assert oru[2][3] == "icu^^b3^h1"
    values = obx_values(vit[0]["raw"])
    assert values["150456"] == "97" and values["149530"] == "88"
    spo2 = next(s for s in oru if s[0] == "OBX" and s[3].startswith("150456^"))
    assert spo2[3] == "150456^MDC_PULS_OXIM_SAT_O2^MDC"
    assert spo2[6] == "262688^MDC_DIM_PERCENT^MDC^%^%^UCUM"
    assert spo2[4] == "1.1.1.1" and spo2[14] == "20260101000000.0000+0000"

    r40 = obx_values(alert[0]["raw"])
    assert r40["68481"] == "start" and r40["68482"] == "active" and r40["68483"] == "enabled"
    assert r40["196674"].startswith("SpO2 88 %")
    assert r40["150456"] == "88"

    files = sorted(fhir_dir.glob("*.json"))
    kinds = sorted(json.loads(f.read_text())["entry"][0]["resource"]["resourceType"] for f in files)
    assert kinds == ["Communication", "Observation"]


@pytest.mark.parametrize("outage", [8.0, pytest.param(60.0, marks=pytest.mark.soak)])
def test_receiver_down_then_up_every_alert_event_arrives_in_order(
    mosquitto: Mosquitto, tmp_path: Path, outage: float
) -> None:
    """The receiver is absent for ``outage`` seconds (a minute in the soak run, ``-m soak``),
    then starts; it is SIGKILLed once more in the middle of the backlog and restarted."""
    receiver = MllpReceiver(tmp_path)
    gw = Gateway(  # no `continue` re-sends in this test: it is about the bed's events
        gateway_cmd(mosquitto.url, receiver.url, tmp_path / "state", "--continue-s", "3600"),
        tmp_path / "gateway.log",
    ).start()
    bed = Bed(mosquitto.host, mosquitto.port)
    events = 40
    try:
        start = time.monotonic()
        for i in range(events):
            phase = ("start", "update", "end")[i % 3]
            state = "inactive" if phase == "end" else "active"
            bed.alert(T0 + i, n=i // 3, phase=phase, state=state)
        time.sleep(max(0.0, outage - (time.monotonic() - start)))
        assert not receiver.messages()
        receiver.start()
        receiver.wait_for(events // 2, timeout=30, kind="ORU^R40")
        receiver.kill()  # a crash of the receiving system in the middle of the backlog
        receiver.start()
        got = receiver.wait_for(events, timeout=30, kind="ORU^R40")
    finally:
        bed.close()
        summary = gw.stop()
        receiver.stop()
    phases = [obx_values(m["raw"])["68481"] for m in got]
    ids = [segments(m["raw"])[3][2].split("^")[0] for m in got]
    expected = [(f"a{i // 3}", ("start", "update", "end")[i % 3]) for i in range(events)]
    assert list(zip(ids, phases, strict=True)) == expected
    assert summary["senders"]["hl7"]["retries"] >= 1
    assert summary["store"]["dead_letters"] == 0


def test_refused_messages_are_counted_and_not_retried_forever(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    receiver = MllpReceiver(tmp_path, refuse=("AE:tachycardia", "AR:weight_gain")).start()
    gw = Gateway(
        gateway_cmd(mosquitto.url, receiver.url, tmp_path / "state"), tmp_path / "gateway.log"
    ).start()
    bed = Bed(mosquitto.host, mosquitto.port)
    try:
        bed.alert(T0, n=1, code="tachycardia", values={"pulse": 130.0})
        bed.alert(T0 + 1, n=2, code="weight_gain", values={})
        bed.alert(T0 + 2, n=3)
        receiver.wait_for(3, kind="ORU^R40")
        time.sleep(1.5)  # long enough for a retry, were there one
    finally:
        bed.close()
        summary = gw.stop()
        receiver.stop()
    assert len(receiver.messages()) == 3, "a refused message was sent again"
    assert summary["senders"]["hl7"] == {"delivered": 1, "refused": 2}
    assert summary["store"]["dead_letters"] == 2
    log = gw.stderr()
    assert "refused alert message" in log and "MSA AE" in log and "MSA AR" in log


def test_continue_is_resent_while_the_alert_stands_with_its_ack_state(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    receiver = MllpReceiver(tmp_path, ora=True).start()
    gw = Gateway(
        gateway_cmd(mosquitto.url, receiver.url, tmp_path / "state", "--continue-s", "1"),
        tmp_path / "gateway.log",
    ).start()
    bed = Bed(mosquitto.host, mosquitto.port)
    try:
        bed.alert(T0, n=7)
        receiver.wait_for(2, kind="ORU^R40")  # the start and a first continue
        bed.alert(T0 + 5, n=7, phase="update", inactivation="acknowledged")
        wait_for(
            lambda: any(
                obx_values(m["raw"]).get("68483") == "alert-acknowledged"
                and obx_values(m["raw"])["68481"] == "continue"
                for m in receiver.unique()
            ),
            10,
            message="a continue carrying the acknowledgement",
        )
        bed.alert(T0 + 9, n=7, phase="end", state="inactive", inactivation="acknowledged")
        wait_for(lambda: any(obx_values(m["raw"])["68481"] == "end" for m in receiver.unique()), 10)
        n_end = len(receiver.unique())
        time.sleep(2.5)  # no continue after the end
    finally:
        bed.close()
        summary = gw.stop()
        receiver.stop()
    assert len(receiver.unique()) == n_end
    assert summary["received"]["continues"] >= 2
    assert summary["senders"]["hl7"].get("refused", 0) == 0  # ORA^R41 counts as an ack


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    r = run_cli(
        "gateway",
        "--broker",
        "mqtt://127.0.0.1:1",
        "--hl7",
        "http://x:1",
        "--state-dir",
        str(tmp_path),
    )
    assert r.returncode == 78 and b"--hl7: must be mllp://HOST:PORT" in r.stderr
    r = run_cli(
        "gateway",
        "--broker",
        "mqtt://127.0.0.1:1",
        "--hl7",
        "mllp://127.0.0.1:2575",
        "--continue-s",
        "0",
        "--state-dir",
        str(tmp_path),
    )
    assert r.returncode == 78 and b"--continue-s: must be at least 1" in r.stderr
