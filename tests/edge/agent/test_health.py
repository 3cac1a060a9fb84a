"""Health (issue 13 items 2 and 3): a full disk holds alerts, errors raise agent_fault.

Real parts: a real mosquitto, real SQLite files made full with ``PRAGMA max_page_count``
(SQLite's own SQLITE_FULL, what a full disk gives), the agent as a subprocess with a
real pty device and a real AF_UNIX notify socket standing where systemd's would be.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.agent.dispatch import BOOK_STATE, Dispatcher
from edge.agent.sdnotify import Notifier, Watchdog
from edge.clock import ManualClock
from edge.messaging.outbox import Outbox
from edge.vocabulary import Alert, Reading
from tests.edge.agent.test_sdnotify import NotifySocket as DatagramSocket
from tests.edge.messaging.support import bed_config, validate
from tests.hil.agent import Agent, MasimoStream, NotifySocket, write_config
from tests.support import Collector, Mosquitto, Pty, wait_for

T0 = 1_767_225_600.0


def fill_the_disk(box: Outbox, topic: str) -> int:
    """Make the outbox's database full: every later put fails with SQLITE_FULL.

    Fills the outbox table itself (with vitals, valid and published later) so that no
    page has room left for a message. Returns how many filler messages went in.
    """
    db = box._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 4}")
    n = 0
    for size in (2000, 200, 1):  # down to the last free bytes of the last page
        try:
            while True:
                box.put(topic, {"readings": [], "pad": "x" * size}, kind="vitals")
                n += 1
        except sqlite3.OperationalError as e:
            assert "full" in str(e)
    return n


def free_the_disk(box: Outbox) -> None:
    box._db.execute("PRAGMA max_page_count = 1073741823")


def alerts_of(col: Collector) -> list[dict]:
    with col._lock:
        msgs = [m for m in col.messages if m.topic.endswith("/alerts")]
    return [validate(m.topic, m.payload)["alert"] for m in msgs]


def test_a_full_disk_holds_alert_events_and_raises_agent_fault_when_it_works_again(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state", storage={"fault_after_errors": 100})
    clock = ManualClock(T0)
    # a persistent session: the broker keeps what arrives while this subscriber is away
    col = Collector(
        mosquitto.host, mosquitto.port, "capleak/#", protocol=mqtt.MQTTv311, clean_session=False
    )
    mosquitto.stop()  # nothing leaves the outbox (and frees space) until the broker is back
    d = Dispatcher(cfg, clock=clock).start()
    try:
        fillers = fill_the_disk(d.outbox, f"{cfg.topic_root}/vitals")
        hypo = Alert("hypotension", "high", "physiological", "start", T0 + 1, "SBP 85")
        events = d.alert(hypo)  # the book changes; its event cannot be stored
        assert [e.code for e in events] == ["hypotension"]
        d.readings([Reading.of("spo2", 97, time=T0 + 1), Reading.of("spo2", 96, time=T0 + 2)])
        d.publisher.flush()
        assert d.held == 2  # hypotension start, agent_fault start
        health = d.publisher.status()
        assert health["dropped"] == {"vitals": 2} and fillers > 0
        assert health["errors"]["storage"] >= 2 and "storage" in health["faults"]
        # on disk: neither the book's new state nor its event (they commit together)
        assert (
            d.outbox.get_state(BOOK_STATE) is None and d.outbox.depth() == fillers + 1
        )  # + the start-up alerts/active
        clock.advance(5)
        d.tick(clock.now())  # retried: still full
        assert d.held == 2
        free_the_disk(d.outbox)
        clock.advance(5)
        d.tick(clock.now())  # the first retry that works stores everything, in order
        assert d.held == 0 and "storage" not in d.publisher.status()["faults"]
        mosquitto.start()
        assert d.wait_idle(20)
        got = wait_for(lambda: len(alerts_of(col)) >= 3 and alerts_of(col), 10)
        assert [(a["code"], a["phase"], a["state"]) for a in got] == [
            ("hypotension", "start", "active"),
            ("agent_fault", "start", "active"),
            ("agent_fault", "update", "latched"),  # until a nurse acknowledges it
        ]
        assert got[1]["event_time"] == "2026-01-01T00:00:00.000Z"  # when storage failed
        assert "database or disk is full" in got[1]["values"]["reason"]
        stored = {a["code"] for a in d.outbox.get_state(BOOK_STATE)}
        assert stored == {"hypotension", "agent_fault"}
    finally:
        d.stop()
        col.close()


def test_a_failed_watchdog_never_pings_again(tmp_path: Path) -> None:
    sock = DatagramSocket(str(tmp_path / "notify"))
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"})
    wd = Watchdog(n).start()
    try:
        wait_for(lambda: wd.beat() or wd.sent >= 2, 5, message="pings")
        wd.fail("5 consecutive storage errors")
        sock.drain(0.15)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            wd.beat()  # the loop still goes round: no matter
            assert sock.drain(0.02) == []
    finally:
        wd.stop()
        n.close()
        sock.sock.close()


def test_consecutive_storage_errors_raise_agent_fault_and_stop_the_watchdog(
    tmp_path: Path, mosquitto: Mosquitto, pty_pair: Pty
) -> None:
    state = tmp_path / "st"
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": pty_pair.path}
    extra = "fault_after_errors = 3\n"  # appended to [storage]
    cfg = write_config(
        tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=state, devices=[spo2]
    )
    text = cfg.read_text().replace("[storage]\n", "[storage]\n" + extra)
    cfg.write_text(text + "[publish]\nvitals_batch_s = 0\n")
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    notify = NotifySocket(tmp_path / "notify")
    stream = MasimoStream(pty_pair, period=0.1)
    agent = Agent(cfg, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"}).start()
    try:
        wait_for(lambda: notify.count("WATCHDOG=1") >= 2, 20, message="watchdog pings")
        wait_for(lambda: any(m.topic.endswith("/vitals") for m in col.messages), 10)
        # A real SQLite error on every write to the outbox, from outside the agent.
        con = sqlite3.connect(state / "outbox.sqlite3", timeout=10)
        con.execute(
            "CREATE TRIGGER injected BEFORE INSERT ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'injected I/O fault'); END"
        )
        con.commit()
        agent.wait_log("consecutive storage errors")
        time.sleep(0.3)  # a ping already in flight
        pings = notify.count("WATCHDOG=1")
        time.sleep(0.6)  # three watchdog periods, with the loop still running
        assert notify.count("WATCHDOG=1") == pings, "the watchdog is still petted"
        assert any("STATUS=agent fault" in m for m in notify.messages)

        def faulted_status() -> dict | None:
            for m in reversed(list(col.messages)):
                if m.topic.endswith("/status"):
                    body = json.loads(m.payload)
                    return body if "storage" in body.get("faults", {}) else None
            return None

        status = wait_for(faulted_status, 5, message="a status naming the fault")
        assert status["errors"]["storage"] >= 3 and status["dropped"]["vitals"] >= 1
        # Storage works again: the held agent_fault reaches the station.
        con.execute("DROP TRIGGER injected")
        con.commit()
        con.close()
        got = wait_for(
            lambda: [a for a in alerts_of(col) if a["code"] == "agent_fault"], 10, message="alert"
        )
        assert got[0]["phase"] == "start" and got[0]["source"] == "storage"
        assert got[0]["priority"] == "high" and got[0]["kind"] == "technical"
    finally:
        stream.stop()
        agent.close()
        notify.close()
        col.close()
