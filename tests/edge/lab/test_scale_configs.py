"""The shipped unit-broker bridge and central broker configurations (docs/scale.md,
docs/mosquitto/unit-bridge.conf, central.conf, central-acl) run as shipped: a real
unit broker bridges over mTLS to a real central broker; a bed's message goes up to a
station's shared subscription, a station's command comes down, the bridge announces its
state. Certificates are made with openssl, as in the security tests."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest

from tests.edge.messaging.test_security import _issue, pki  # noqa: F401 (a fixture)
from tests.support import REPO, Mosquitto, free_port, wait_for

DOCS = REPO / "docs" / "mosquitto"


def _shipped(name: str, pki_dir: Path, replace: dict[str, str]) -> str:
    text = (DOCS / name).read_text()
    for a, b in replace.items():
        text = text.replace(a, b)
    text = text.replace("/etc/mosquitto/capleak/", f"{pki_dir}/")
    keep = [x for x in text.splitlines() if not x.startswith(("persistence_location", "log_dest"))]
    return "\n".join(keep) + "\n"


@pytest.fixture
def brokers(tmp_path: Path, pki: Path) -> Iterator[tuple[Mosquitto, Mosquitto]]:  # noqa: F811
    _issue(pki, "central", "localhost", server=True)
    _issue(pki, "unit-icu4-bridge", "unit-icu4-bridge")
    shutil.copy(pki / "ca.crt", pki / "central-ca.crt")
    cport, uport = free_port(), free_port()
    central_conf = _shipped(
        "central.conf",
        pki,
        {
            "listener 8883": f"listener {cport} 127.0.0.1",
            "/etc/mosquitto/capleak/central-acl": str(DOCS / "central-acl"),
        },
    )
    central = Mosquitto(tmp_path / "central", central_conf, port=cport).start()
    unit_conf = f"listener {uport} 127.0.0.1\nallow_anonymous true\n" + _shipped(
        "unit-bridge.conf",
        pki,
        {"address central-mqtt.hospital.example:8883": f"address 127.0.0.1:{cport}"},
    )
    unit = Mosquitto(tmp_path / "unit", unit_conf, port=uport).start()
    yield unit, central
    for b in (unit, central):
        b.kill()
        b.stop()


def _client(broker: Mosquitto, pki_dir: Path | None, topics: list[str], got: list) -> mqtt.Client:
    ready = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="station-1", protocol=mqtt.MQTTv5)
    if pki_dir is not None:
        c.tls_set(
            ca_certs=str(pki_dir / "ca.crt"),
            certfile=str(pki_dir / "station-1.crt"),
            keyfile=str(pki_dir / "station-1.key"),
        )
    c.on_connect = lambda cl, *a: cl.subscribe([(t, 1) for t in topics])
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload))
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert ready.wait(10), "could not subscribe"
    return c


def test_the_shipped_bridge_carries_beds_up_and_commands_down_over_mtls(
    brokers: tuple[Mosquitto, Mosquitto],
    pki: Path,  # noqa: F811
) -> None:
    unit, central = brokers
    at_station: list = []
    station = _client(central, pki, ["$share/ward/capleak/v1/#", "capleak-bridge/#"], at_station)
    at_unit: list = []
    bed_side = _client(unit, None, ["capleak/v1/+/+/+/cmd/+"], at_unit)
    try:
        wait_for(
            lambda: ("capleak-bridge/unit-icu4/state", b"1") in at_station,
            20,
            message="the bridge's state 1 at the central broker",
        )
        topic = "capleak/v1/hospital/icu4/bed-1/vitals"

        def up() -> bool:
            publish.single(topic, b'{"seq": 1}', qos=1, hostname=unit.host, port=unit.port)
            return any(t == topic for t, _ in at_station)

        wait_for(up, 20, interval=0.5, message="a bed's message at the station")
        cmd = "capleak/v1/hospital/icu4/bed-1/cmd/ack"
        station.publish(cmd, b'{"alert": "hypotension"}', qos=1).wait_for_publish(5)
        wait_for(lambda: any(t == cmd for t, _ in at_unit), 20, message="the command down")
        # another unit's topics do not go through this unit's bridge (central ACL)
        other = "capleak/v1/hospital/icu5/bed-1/vitals"
        publish.single(other, b'{"seq": 1}', qos=1, hostname=unit.host, port=unit.port)
        publish.single(topic, b'{"seq": 2}', qos=1, hostname=unit.host, port=unit.port)
        wait_for(lambda: (topic, b'{"seq": 2}') in at_station, 20, message="the second")
        assert not any(t == other for t, _ in at_station)
        # the command did not loop back up the bridge: the station (no "no local") has
        # its own copy only
        assert sum(t == cmd for t, _ in at_station) == 1
    finally:
        for c in (station, bed_side):
            c.loop_stop()
            c.disconnect()
