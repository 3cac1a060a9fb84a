"""The reference central station: the pure state machine and the CLI against real agents."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from edge.messaging.alerts import AlertBook, apply_command
from edge.messaging.outbox import Outbox
from edge.messaging.publisher import Publisher
from edge.station.model import Station
from edge.vocabulary import Alert, Reading
from tests.edge.messaging.support import bed_config
from tests.support import Mosquitto, run_cli

T0 = 1_767_225_600.0
ROOT = "capleak/v1/s1/u1/b1"


def msg(seq: int, msg_id: str | None = None, **body) -> bytes:
    return json.dumps({"msg_id": msg_id or f"m{seq}", "seq": seq, "time": "x", **body}).encode()


def test_duplicates_are_dropped_and_gaps_reported_and_closed() -> None:
    st = Station()
    assert st.receive(f"{ROOT}/vitals", msg(1)).gap is None
    assert st.receive(f"{ROOT}/vitals", msg(2)).gap is None
    assert st.receive(f"{ROOT}/vitals", msg(2)).duplicate
    assert st.receive(f"{ROOT}/alerts", msg(6)).gap == (3, 5)
    assert st.beds["s1/u1/b1"].gaps == [[3, 5]]
    st.receive(f"{ROOT}/vitals", msg(4))  # a late arrival splits the gap
    assert st.beds["s1/u1/b1"].gaps == [[3, 3], [5, 5]]
    view = st.beds["s1/u1/b1"]
    assert (view.messages, view.duplicates, view.missing()) == (4, 1, 2)


def test_retained_messages_and_the_will_do_not_open_gaps() -> None:
    st = Station()
    st.receive(f"{ROOT}/alerts/active", msg(40, alerts=[]), retained=True)
    st.receive(f"{ROOT}/status", msg(41, state="online", boot_id="b"), retained=True)
    st.receive(f"{ROOT}/vitals", msg(57))
    st.receive(f"{ROOT}/status", msg(50, "w", state="offline", will=True, boot_id="b"))
    st.receive(f"{ROOT}/vitals", msg(58))
    view = st.beds["s1/u1/b1"]
    assert view.gaps == [] and view.online is False


def test_board_shows_online_alerts_by_priority_and_dose_check() -> None:
    st = Station(filter="s1/u1")
    alerts = [
        {"code": "weight_gain", "priority": "low", "since": "1", "state": "active"},
        {"code": "hypotension", "priority": "high", "since": "2", "state": "latched"},
        {"code": "tachycardia", "priority": "medium", "since": "0", "state": "active"},
    ]
    st.receive(f"{ROOT}/status", msg(1, state="online", boot_id="x"))
    st.receive(f"{ROOT}/alerts/active", msg(2, alerts=alerts))
    st.receive(f"{ROOT}/dose-check", msg(3, dose_check={"hold": True}))
    assert st.receive("capleak/v1/s1/u2/b1/status", msg(4)) is None  # filtered out
    assert st.receive("other/topic", b"{}") is None
    (bed,) = st.summary()
    assert bed["online"] is True
    assert [a["code"] for a in bed["alerts"]] == ["hypotension", "tachycardia", "weight_gain"]
    text = st.render()
    assert "s1/u1/b1: ONLINE" in text and text.index("[HIGH") < text.index("[MEDIUM")
    assert "dose check" in text


def test_board_says_the_dose_check_in_words() -> None:
    st = Station()
    check = {"type": "dose_check", "time": "2026-01-02T07:30:00.000Z",
             "due": "2026-01-02T08:00:00.000Z", "dose_number": 4, "hold_advised": True,
             "criteria": [
                 {"name": "sbp", "value": 96.0, "limit": "< 90", "met": False,
                  "unit": "mm[Hg]", "kind": "label"},
                 {"name": "spo2", "value": None, "limit": "< 90", "met": False, "unit": "%",
                  "kind": "label"},
                 {"name": "hr_relative", "value": 112.4, "limit": "100-130", "met": True,
                  "unit": "/min", "kind": "relative"},
                 {"name": "weight_gain", "value": 12.63, "limit": "> 15", "met": False,
                  "unit": "%", "kind": "relative"}]}  # fmt: skip
    st.receive(f"{ROOT}/dose-check", msg(3, dose_check=check))
    text = st.render()
    assert "{" not in text and '"' not in text  # no JSON
    assert "dose 4 due 2026-01-02T08:00:00.000Z: HOLD ADVISED (1 of 4 criteria met)" in text
    assert "ok   weight gain 12.6 % (hold if > 15 %)" in text  # one decimal, as measured
    assert "ok   SBP 96 mmHg (hold if < 90 mmHg)" in text
    # a missing value is not reassuring: never marked ok
    assert "  ?    SpO2 not measured recently (hold if < 90 %)" in text
    assert "MET  heart rate 112.4 /min (hold if 100-130 /min)" in text


def test_bad_json_is_reported_not_fatal() -> None:
    st = Station()
    r = st.receive(f"{ROOT}/vitals", b"{oops")
    assert r is not None and r.error
    assert st.receive(f"{ROOT}/vitals", msg(1)).error is None


def test_station_cli_sees_beds_and_acknowledges_an_alert(mosquitto: Mosquitto, tmp_path) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    book = AlertBook()
    box = Outbox.in_dir(cfg.storage.state_dir)

    def on_command(cmd):
        result, events = apply_command(book, cmd, T0 + 30)
        pub.publish_alerts(events, book.active())
        return result

    pub = Publisher(cfg, box, on_command=on_command).start()
    watcher = None
    try:
        assert pub.wait_connected(10)
        ev = book.update(Alert("hypotension", "high", "physiological", "start", T0, "SBP 84"))
        pub.publish_alerts(ev, book.active())
        pub.add_reading(Reading.of("sbp", 84, time=T0))
        assert pub.wait_idle(10)
        watcher = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "station", "--broker", mosquitto.url, "--json",
             "--filter", "s1/u1", "--count", "5", "--duration", "30"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert watcher.stdout is not None
        first = watcher.stdout.readline()  # a retained message: the watcher is subscribed
        # 2 retained (status, alerts/active) + the ack's alert event and active list + a reply
        out = run_cli("station", "ack", "--broker", mosquitto.url, "--bed", "s1/u1/b1",
                      "--alert", "hypotension", "--by", "rn-3")  # fmt: skip
        assert out.returncode == 0, out.stderr
        reply = json.loads(out.stdout)
        assert reply["ok"] is True and reply["command"] == "ack"
        assert book.active()[0]["inactivation"] == "acknowledged"
        refused = run_cli("station", "ack", "--broker", mosquitto.url, "--bed", "s1/u1/b1",
                          "--alert", "desaturation", "--protocol", "3.1.1")  # fmt: skip
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["error"]["code"] == "unknown_alert"
        watcher.wait(30)
        stdout = watcher.stdout.read()  # not communicate(): it would skip readline's buffer
    finally:
        pub.stop()
        box.close()
        if watcher and watcher.poll() is None:
            watcher.kill()
    lines = [json.loads(line) for line in [first, *stdout.splitlines()]]
    assert len(lines) == 5, [(x["kind"], x["retained"]) for x in lines]
    kinds = [x["kind"] for x in lines]
    assert {"status", "alerts/active"} <= set(kinds)
    assert all(x["bed"] == "s1/u1/b1" for x in lines)
    # the acknowledgement shows up at the station as an alert update
    updates = [x["payload"]["alert"] for x in lines if x["kind"] == "alerts"]
    assert any(u["inactivation"] == "acknowledged" for u in updates)


def test_station_ack_times_out_without_an_agent(mosquitto: Mosquitto) -> None:
    out = run_cli("station", "ack", "--broker", mosquitto.url, "--bed", "s1/u1/b9",
                  "--alert", "hypotension", "--timeout", "1")  # fmt: skip
    assert out.returncode == 1 and b"no reply" in out.stderr


def test_station_rejects_bad_arguments_as_usage_errors(mosquitto: Mosquitto) -> None:
    # exit 2 (usage), not 78: no configuration file is involved (issue 14)
    out = run_cli("station", "ack", "--broker", mosquitto.url, "--bed", "b1", "--alert", "x")
    assert out.returncode == 2 and b"--bed" in out.stderr
    out = run_cli("station", "--broker", mosquitto.url, "--filter", "a/+")
    assert out.returncode == 2 and b"--filter" in out.stderr


def test_status_published_ahead_of_the_backlog_is_not_a_gap() -> None:
    st = Station()
    for seq in range(1, 6):
        st.receive(f"{ROOT}/vitals", msg(seq))
    # reconnect: the online status (seq 9) goes out first, then the backlog 6-8
    st.receive(f"{ROOT}/status", msg(9, state="online", boot_id="b"))
    for seq in (6, 7, 8, 10, 11):
        assert st.receive(f"{ROOT}/vitals", msg(seq)).gap is None
    # a real loss next to an out-of-band status is still reported, without the status
    st.receive(f"{ROOT}/status", msg(13, state="online", boot_id="b"))
    assert st.receive(f"{ROOT}/vitals", msg(16)).gap == (12, 15)
    assert st.beds["s1/u1/b1"].gaps == [[12, 12], [14, 15]]


@given(st.data())
def test_gaps_are_exactly_the_missing_seqs(data) -> None:
    n = data.draw(st.integers(1, 60))
    kept = data.draw(st.lists(st.integers(1, n), min_size=1, max_size=90))  # dups, any order
    st_ = Station()
    for seq in kept:
        st_.receive(f"{ROOT}/vitals", msg(seq))
    first = kept[0]
    expected = set(range(first, max(kept) + 1)) - set(kept)
    gaps = {s for a, b in st_.beds["s1/u1/b1"].gaps for s in range(a, b + 1)}
    assert gaps == expected
    assert st_.beds["s1/u1/b1"].duplicates == len(kept) - len(set(kept))


def test_a_share_member_reports_no_gaps_and_keeps_the_highest_seq() -> None:
    st = Station(share="ward")
    for seq in (1, 4, 9, 7):  # the other member took 2, 3, 5, 6, 8
        r = st.receive(f"{ROOT}/vitals", msg(seq))
        assert r is not None and r.gap is None
    view = st.beds["s1/u1/b1"]
    assert (view.gaps, view.missing(), view.last_seq, view.messages) == ([], 0, 9, 4)
    assert st.receive(f"{ROOT}/vitals", msg(4)).duplicate  # both subscriptions: one copy
    plain = Station()  # the same messages without --share are gaps
    for seq in (1, 4, 9, 7):
        plain.receive(f"{ROOT}/vitals", msg(seq))
    assert plain.beds["s1/u1/b1"].missing() == 5


def test_a_share_member_subscribes_to_the_group_and_plainly_to_the_retained_state() -> None:
    subs = Station("s1/u1", share="ward").subscriptions()
    assert subs[0] == "$share/ward/capleak/v1/s1/u1/#"
    assert sorted(subs[1:]) == [
        "capleak/v1/s1/u1/+/alerts/active",
        "capleak/v1/s1/u1/+/dose-check",
        "capleak/v1/s1/u1/+/status",
    ]
    assert Station("s1/u1/b1", share="g").subscriptions()[1] == "capleak/v1/s1/u1/b1/status"


def test_station_share_needs_mqtt5_and_a_group_name() -> None:
    bad = run_cli(
        "station", "--broker", "mqtt://127.0.0.1:1", "--share", "g", "--protocol", "3.1.1"
    )
    assert bad.returncode == 2 and b"MQTT 5" in bad.stderr
    bad = run_cli("station", "--broker", "mqtt://127.0.0.1:1", "--share", "a/b")
    assert bad.returncode == 2 and b"--share" in bad.stderr
