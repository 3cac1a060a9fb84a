"""The first slice, end to end: Masimo line -> pty -> driver -> MQTT -> subscriber."""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt
import serial

from drivers.registry import get_driver
from edge.config import BrokerConfig
from edge.messaging.mqtt import new_client
from tests.support import Collector, Mosquitto, Pty, wait_for

LINE = b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n"


def test_masimo_line_reaches_a_subscriber(mosquitto: Mosquitto, pty_pair: Pty) -> None:
    sub = Collector(mosquitto.host, mosquitto.port, "capleak/v1/s1/u1/b1/vitals")
    spec = get_driver("masimo-ascii")
    decoder = spec.decoder("spo2-1", {})
    port = serial.serial_for_url(pty_pair.path, baudrate=spec.baudrate, timeout=0.5)
    client, addr = new_client(BrokerConfig(url=mosquitto.url), "slice-test")
    client.connect(addr.host, addr.port)
    client.loop_start()
    try:
        pty_pair.write(LINE)
        readings = []
        while len(readings) < 3:
            chunk = port.read(256)
            assert chunk, "no bytes from the pty"
            readings += decoder.feed(chunk)
        info = client.publish(
            "capleak/v1/s1/u1/b1/vitals", json.dumps([r.to_dict() for r in readings]), qos=1
        )
        info.wait_for_publish(5)
        got = wait_for(lambda: sub.payloads("vitals"), message="vitals message")
    finally:
        client.loop_stop()
        client.disconnect()
        port.close()
        sub.close()
    assert got[0] == [
        {
            "signal": "spo2",
            "value": 97.0,
            "unit": "%",
            "source": "spo2-1",
            "flags": [],
            "mdc": 150456,
            "mdc_refid": "MDC_PULS_OXIM_SAT_O2",
            "loinc": "59408-5",
            "time": "2010-09-15T15:10:29.000Z",
        },
        {
            "signal": "pulse",
            "value": 64.0,
            "unit": "/min",
            "source": "spo2-1",
            "flags": [],
            "mdc": 149530,
            "mdc_refid": "MDC_PULS_OXIM_PULS_RATE",
            "loinc": "8867-4",
            "time": "2010-09-15T15:10:29.000Z",
        },
        {
            "signal": "pi",
            "value": 11.82,
            "unit": "%",
            "source": "spo2-1",
            "flags": [],
            "mdc": 150448,
            "mdc_refid": "MDC_PULS_OXIM_PERF_REL",
            "time": "2010-09-15T15:10:29.000Z",
        },
    ]
    assert mqtt.MQTT_ERR_SUCCESS == 0


def test_broker_can_be_killed_and_restarted(mosquitto: Mosquitto) -> None:
    mosquitto.kill()
    assert not mosquitto.running
    mosquitto.start()
    sub = Collector(mosquitto.host, mosquitto.port, "t")
    sub.close()
