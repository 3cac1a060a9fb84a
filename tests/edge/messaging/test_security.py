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
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.messaging.outbox import Outbox
from edge.messaging.publisher import Publisher
from edge.vocabulary import Reading
from tests.edge.messaging.support import bed_config
from tests.support import REPO, Mosquitto, free_port, run_cli, wait_for

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


SHIPPED_CONF = REPO / "docs" / "mosquitto" / "mosquitto.conf"
SHIPPED_ACL = REPO / "docs" / "mosquitto" / "acl"


def shipped_conf(pki: Path, port: int) -> str:
    """The shipped docs/mosquitto/mosquitto.conf, pointed at this test's files and port."""
    text = SHIPPED_CONF.read_text()
    text = text.replace("listener 8883", f"listener {port} 127.0.0.1")
    text = text.replace("/etc/mosquitto/capleak/acl", str(SHIPPED_ACL))
    text = text.replace("/etc/mosquitto/capleak/", f"{pki}/")
    # the test harness sets where persistence and logs go
    keep = [x for x in text.splitlines() if not x.startswith(("persistence_location", "log_dest"))]
    return "\n".join(keep) + "\n"


@pytest.fixture
def mtls_broker(tmp_path: Path, pki: Path) -> Iterator[Mosquitto]:
    """A real mosquitto running the shipped broker configuration and ACL."""
    port = free_port()
    b = Mosquitto(tmp_path / "broker", shipped_conf(pki, port), port=port)
    b.start()
    yield b
    b.kill()
    b.stop()


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
    creds.chmod(0o600)
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
    creds.chmod(0o600)
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


# -- issue 13, item 11 ------------------------------------------------------------------


def tls_client(broker: Mosquitto, pki: Path, who: str, client_id: str) -> mqtt.Client:
    """A connected MQTT 5 client with ``who``'s certificate (not yet looping)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(pki / "ca.crt"), certfile=str(pki / f"{who}.crt"),
              keyfile=str(pki / f"{who}.key"))  # fmt: skip
    return c


def test_shipped_broker_config_ties_client_id_to_identity_and_saves_often() -> None:
    lines = [x.split() for x in SHIPPED_CONF.read_text().splitlines() if x and x[0] != "#"]
    settings = {x[0]: x[1:] for x in lines}
    assert settings["use_username_as_clientid"] == ["true"]
    assert settings["persistence"] == ["true"]
    assert 0 < int(settings["autosave_interval"][0]) <= 60  # the default 1800 s loses sessions


def test_a_bed_cannot_kick_another_bed_off_by_taking_its_client_id(
    mtls_broker: Mosquitto, pki: Path, tmp_path: Path
) -> None:
    url = f"mqtts://localhost:{mtls_broker.port}"
    cfg = bed_config(url, tmp_path / "state", bed="b1", broker={
        "ca_file": str(pki / "ca.crt"), "cert_file": str(pki / "b1.crt"),
        "key_file": str(pki / "b1.key")})  # fmt: skip
    own = Publisher(cfg, Outbox.in_dir(cfg.storage.state_dir)).start()
    rogue = tls_client(mtls_broker, pki, "b2", client_id=own.client_id)
    try:
        assert own.wait_connected(10)
        rogue.connect("localhost", mtls_broker.port)
        rogue.loop_start()
        wait_for(rogue.is_connected, 10, message="the rogue connection")
        time.sleep(1.0)  # a session takeover would disconnect `own` at once
        assert own.connected and own.connects == 1
    finally:
        rogue.loop_stop()
        rogue.disconnect()
        own.stop()


def test_a_bed_writes_only_its_own_replies_under_capleak_station(
    mtls_broker: Mosquitto, pki: Path
) -> None:
    got: list[str] = []
    ready = threading.Event()
    station = tls_client(mtls_broker, pki, "station-1", client_id="station-board")
    station.on_connect = lambda c, *a: c.subscribe("capleak-station/#", qos=1)
    station.on_subscribe = lambda *a: ready.set()
    station.on_message = lambda c, u, m: got.append(m.topic)
    station.connect("localhost", mtls_broker.port)
    station.loop_start()
    bed = tls_client(mtls_broker, pki, "b1", client_id="b1")
    bed.connect("localhost", mtls_broker.port)
    bed.loop_start()
    try:
        assert ready.wait(10)
        wait_for(bed.is_connected, 10, message="bed connected")
        for topic in (
            "capleak-station/station-1/reply/b2",  # in another bed's name
            "capleak-station/station-1/status",  # anywhere else under capleak-station/
            "capleak-station/anything",
            "capleak-station/station-1/reply/b1",  # its own reply: allowed
        ):
            bed.publish(topic, b"{}", qos=1).wait_for_publish(5)
        wait_for(lambda: got, 10, message="the allowed reply")
        time.sleep(0.3)
        assert got == ["capleak-station/station-1/reply/b1"]
    finally:
        for c in (bed, station):
            c.loop_stop()
            c.disconnect()


def test_a_credentials_file_others_can_read_is_refused_with_exit_78(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.toml"
    creds.write_text(f'username = "b1"\npassword = "{PASSWORD}"\n')
    creds.chmod(0o644)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[bed]\nsite = "s1"\nunit = "u1"\nbed = "b1"\n'
        f'[broker]\nurl = "mqtts://localhost:8883"\ncredentials_file = "{creds}"\n'
    )
    r = run_cli("check-config", str(cfg))
    err = r.stderr.decode() + r.stdout.decode()
    assert r.returncode == 78, err
    unwrapped = err.replace("\n", "")  # the CLI wraps its message, also inside the path
    assert str(creds) in unwrapped and "chmod 600" in " ".join(err.split()), err
    assert PASSWORD not in err
    creds.chmod(0o600)
    r = run_cli("check-config", str(cfg))
    assert r.returncode == 0, r.stderr.decode()


@pytest.mark.parametrize(
    "url",
    ["mqtt://b1:s3cret-pw@broker:bad", "mqtt://b1:s3cret-pw/x@broker", "mqtp://b1:s3cret-pw@b",
     "mqtt://b1:s3cret-pw@", "mqtt://b1:s3cret-pw#x@broker:1883"],
)  # fmt: skip
def test_a_malformed_broker_url_never_echoes_the_password(url: str, tmp_path: Path) -> None:
    from edge.config import ConfigError
    from edge.messaging.mqtt import parse_broker_url

    with pytest.raises(ConfigError) as e:
        parse_broker_url(url)
    assert "s3cret" not in str(e.value)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[bed]\nsite = "s1"\nunit = "u1"\nbed = "b1"\n[broker]\nurl = "{url}"\n')
    r = run_cli("check-config", str(cfg))
    assert r.returncode == 78
    assert "s3cret" not in r.stderr.decode() + r.stdout.decode()
    r = run_cli("station", "--broker", url, "--count", "1", "--duration", "1")
    assert r.returncode != 0 and "s3cret" not in r.stderr.decode() + r.stdout.decode()
