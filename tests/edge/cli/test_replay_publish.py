"""``capleak replay --publish``: a replay reaches a real broker as the live agent would send it."""

from __future__ import annotations

from edge.vocabulary import parse_time
from tests.edge.messaging.support import validate
from tests.support import Collector, Mosquitto, free_port, run_cli, wait_for

T0 = 1_767_225_600


def write_csv(path) -> None:
    rows = ["time,signal,value"]
    for i in range(30):  # SBP falls below the hold limit after 10 minutes
        rows += [f"{T0 + i * 60},sbp,{120 if i < 10 else 80}",
                 f"{T0 + i * 60},dbp,{70 if i < 10 else 45}",
                 f"{T0 + i * 60},spo2,97"]  # fmt: skip
    path.write_text("\n".join(rows) + "\n")


def test_replay_publishes_vitals_and_alerts_and_waits_for_the_acks(
    mosquitto: Mosquitto, tmp_path
) -> None:
    csv = tmp_path / "falling.csv"
    write_csv(csv)
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    out = run_cli("replay", str(csv), "--publish", mosquitto.url, "--bed", "s1/u1/b7",
                  "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert b"all acknowledged" in out.stderr
    # stdout keeps the replay contract: one JSON line per alert event
    assert b'"code": "hypotension"' in out.stdout

    def n_readings() -> int:
        return sum(len(v["readings"]) for v in col.payloads("/vitals"))

    # the broker acknowledged everything; its deliveries to us may still be on the way
    wait_for(lambda: col.payloads("/alerts/active") and n_readings() >= 90, message="all of it")
    col.close()
    topics = set()
    for m in col.messages:
        assert m.topic.startswith("capleak/v1/s1/u1/b7/")
        validate(m.topic, m.payload)
        topics.add(m.topic.rsplit("b7/", 1)[1])
    assert {"status", "vitals", "alerts", "alerts/active", "trends"} <= topics
    readings = [r for v in col.payloads("/vitals") for r in v["readings"]]
    assert len(readings) == 90
    starts = [a["alert"]["code"] for a in col.payloads("/alerts") if a["alert"]["phase"] == "start"]
    assert "hypotension" in starts
    # the stream's order survives the group commit: readings are numbered in the stream's
    # order, the readings up to the alert's time before it, and a vitals message is one
    # batch of the stream's own time (publish.vitals_batch_s, 1 s), never merged by wall time
    alert = next(a for a in col.payloads("/alerts") if a["alert"]["code"] == "hypotension")
    t_alert = parse_time(alert["alert"]["event_time"])
    by_seq = sorted(col.payloads("/vitals"), key=lambda v: v["seq"])
    stamps = []
    for v in by_seq:
        times = {parse_time(r["time"]) for r in v["readings"]}
        assert len(times) == 1, "one vitals message per second of the stream"
        stamps.append(times.pop())
        if stamps[-1] <= t_alert:
            assert v["seq"] < alert["seq"]
    assert stamps == sorted(stamps)


def test_replay_publish_without_a_broker_fails_cleanly(tmp_path) -> None:
    csv = tmp_path / "falling.csv"
    write_csv(csv)
    out = run_cli("replay", str(csv), "--publish", f"mqtt://127.0.0.1:{free_port()}",
                  "--bed", "s1/u1/b7", "--timeout", "1")  # fmt: skip
    assert out.returncode == 1 and b"no connection" in out.stderr
