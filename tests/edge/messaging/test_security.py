"""TLS, mTLS, credentials and per-bed ACLs against real mosquitto brokers.

Certificates are made in the test with the ``openssl`` command line; the ACL is
the shipped example ``docs/mosquitto/acl``.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.messaging.outbox import Outbox
from edge.messaging.publisher import Publisher
from edge.vocabulary import Reading
from tests.edge.messaging.support import bed_config
from tests.support import REPO, Mosquitto, free_port, wait_for

OPENSSL = shutil.which("openssl")
PASSWORD = "s3cret-never-logged"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def _issue(d: Path, name: str, cn: str, server: bool = False) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
             cwd=d)  # fmt: skip
    ext = d / f"{name}.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        if server
        else "extendedKeyUsage=clientAuth\n"
    )
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", ext.name,
             cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A throw-away CA, a broker certificate, bed b1/b2 and station certificates."""
    if OPENSSL is None:
        pytest.fail("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "rogue-ca"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
                 "-subj", f"/CN=capleak {ca}", cwd=d)  # fmt: skip
    _issue(d, "broker", "localhost", server=True)
    for who in ("b1", "b2", "station-1"):
        _issue(d, who, who)
    return d


def _broker(tmp_path: Path, pki: Path, body: str) -> Iterator[Mosquitto]:
    port = free_port()
    conf = (
        f"user root\nlistener {port} 127.0.0.1\ncafile {pki}/ca.crt\n"
        f"certfile {pki}/broker.crt\nkeyfile {pki}/broker.key\n" + body
    )
    b = Mosquitto(tmp_path / "broker", conf, port=port)
    b.start()
    yield b
    b.kill()
    b.stop()


@pytest.fixture
def mtls_broker(tmp_path: Path, pki: Path) -> Iterator[Mosquitto]:
    acl = REPO / "docs" / "mosquitto" / "acl"
    yield from _broker(
        tmp_path,
        pki,
        "require_certificate true\nuse_identity_as_username true\n"
        f"allow_anonymous false\nacl_file {acl}\n",
    )


@pytest.fixture
def password_broker(tmp_path: Path, pki: Path) -> Iterator[Mosquitto]:
    pw = tmp_path / "passwords"
    pw.write_text(f"b1:{PASSWORD}\n")
    subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True)  # hashes the file in place
    yield from _broker(tmp_path, pki, f"allow_anonymous false\npassword_file {pw}\n")


def tls_subscriber(broker: Mosquitto, pki: Path, who: str = "station-1") -> tuple:
    got: list[mqtt.MQTTMessage] = []
    ready = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{who}")
    c.tls_set(ca_certs=str(pki / "ca.crt"), certfile=str(pki / f"{who}.crt"),
              keyfile=str(pki / f"{who}.key"))  # fmt: skip
    c.on_connect = lambda cl, *a: cl.subscribe("capleak/#", qos=1)
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, u, m: got.append(m)
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert ready.wait(10), "TLS subscriber could not subscribe"
    return c, got


def test_tls_with_ca_verification_and_credentials_file(
    password_broker: Mosquitto, pki: Path, tmp_path: Path, caplog
) -> None:
    creds = tmp_path / "credentials.toml"
    creds.write_text(f'username = "b1"\npassword = "{PASSWORD}"\n')
    url = f"mqtts://localhost:{password_broker.port}"
    cfg = bed_config(url, tmp_path / "state", broker={
        "ca_file": str(pki / "ca.crt"), "credentials_file": str(creds)})  # fmt: skip
    caplog.set_level(logging.DEBUG)
    got: list[mqtt.MQTTMessage] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sub")
    sub.tls_set(ca_certs=str(pki / "ca.crt"))
    sub.username_pw_set("b1", PASSWORD)
    ready = threading.Event()
    sub.on_connect = lambda c, *a: c.subscribe("capleak/#", 1)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, m: got.append(m)
    sub.connect("localhost", password_broker.port)
    sub.loop_start()
    assert ready.wait(10)
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box).start()
        try:
            assert pub.wait_connected(10)
            pub.add_reading(Reading.of("spo2", 96))
            assert pub.wait_idle(10)
            wait_for(lambda: any(m.topic.endswith("/vitals") for m in got))
        finally:
            pub.stop()
            sub.loop_stop()
            sub.disconnect()
    assert PASSWORD not in caplog.text


def test_wrong_password_and_untrusted_broker_are_refused(
    password_broker: Mosquitto, pki: Path, tmp_path: Path
) -> None:
    creds = tmp_path / "credentials.toml"
    creds.write_text('username = "b1"\npassword = "wrong"\n')
    url = f"mqtts://localhost:{password_broker.port}"
    for ca, cred in ((pki / "ca.crt", creds), (pki / "rogue-ca.crt", None)):
        broker = {"ca_file": str(ca)} | ({"credentials_file": str(cred)} if cred else {})
        cfg = bed_config(url, tmp_path / f"state-{ca.stem}", broker=broker)
        with Outbox.in_dir(cfg.storage.state_dir) as box:
            pub = Publisher(cfg, box).start()
            try:
                assert not pub.wait_connected(2), f"connected with {ca.name} / {cred}"
            finally:
                pub.stop()


def test_mtls_bed_publishes_its_own_topics_and_takes_no_foreign_ones(
    mtls_broker: Mosquitto, pki: Path, tmp_path: Path
) -> None:
    sub, got = tls_subscriber(mtls_broker, pki)
    url = f"mqtts://localhost:{mtls_broker.port}"

    def agent(bed: str, cert: str) -> Publisher:
        cfg = bed_config(url, tmp_path / f"state-{bed}-{cert}", bed=bed, broker={
            "ca_file": str(pki / "ca.crt"), "cert_file": str(pki / f"{cert}.crt"),
            "key_file": str(pki / f"{cert}.key")})  # fmt: skip
        return Publisher(cfg, Outbox.in_dir(cfg.storage.state_dir)).start()

    own = agent("b1", "b1")
    spoof = agent("b1", "b2")  # bed b2's certificate claiming to be bed b1
    try:
        assert own.wait_connected(10) and spoof.wait_connected(10)
        own.add_reading(Reading.of("spo2", 96, source="own"))
        spoof.add_reading(Reading.of("spo2", 50, source="spoof"))
        assert own.wait_idle(10) and spoof.wait_idle(10)
        wait_for(lambda: any(m.topic.endswith("b1/vitals") for m in got))
        # MQTT 5: the broker answers the spoofed publish with "not authorised"
        assert spoof.rejected >= 1 and own.rejected == 0
    finally:
        own.stop()
        spoof.stop()
        sub.loop_stop()
        sub.disconnect()
    vitals = [m for m in got if m.topic.endswith("/vitals")]
    assert [b"own" in m.payload for m in vitals] == [True]


def test_mtls_refuses_a_client_without_a_certificate(mtls_broker: Mosquitto, pki: Path) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="no-cert")
    c.tls_set(ca_certs=str(pki / "ca.crt"))
    with pytest.raises((ssl.SSLError, OSError)):
        c.connect("localhost", mtls_broker.port)
        # TLS 1.3 reports the missing certificate only on the first read
        for _ in range(50):
            if c.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise OSError("connection closed by the broker")
    assert not c.is_connected()
