"""``capleak demo`` end to end (short runs), and its summary against the hold criteria."""

from __future__ import annotations

from edge.config import Thresholds
from edge.lab.demo import Course, SeenAlert, alert_from_message, course_time, summary
from tests.support import free_port, run_cli

START = 1_767_571_200.0  # 2026-01-05T00:00:00Z


def test_demo_runs_a_course_through_the_real_agent_and_broker() -> None:
    r = run_cli("demo", "--scenario", "severe", "--days", "1", "--duration", "8", timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "Started a private mosquitto" in out
    assert "STATION " in out, out  # alerts arrived over MQTT at the station view
    assert "Summary: severe capillary leak" in out
    assert "Hold criteria" in out and "SBP < 90 mmHg" in out
    assert "seq gaps: 0" in out, out
    assert "Agent exit status 0." in out


def test_demo_without_a_broker_says_so_and_keeps_alerts_in_the_outbox() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    r = run_cli("demo", "--broker", url, "--days", "1", "--duration", "6", timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert f"No MQTT broker answers at {url}" in out
    assert "LOCAL " in out, out  # alerts shown from the agent's outbox
    assert "still in the agent's outbox" in out
    assert "STATION " not in out


def course(truth: dict) -> Course:
    return Course(START, 3.0, {}, [], truth, "moderate", 1)


def test_summary_compares_alerts_with_the_hold_criteria() -> None:
    h = 3600.0
    truth = {
        "hold_criteria_first_met_s": {"sbp": 30 * h, "spo2": None, "weight": 50 * h, "hr": None},
        "first_hold_s": 30 * h,
    }
    alerts = [
        SeenAlert(START + 20 * h, "bp_falling", "start", "medium", "active", "SBP falling"),
        SeenAlert(START + 29 * h, "hypotension", "start", "high", "active", "SBP 86"),
        SeenAlert(START + 29.5 * h, "hypotension", "continue", "high", "active", "again"),
        SeenAlert(START + 31 * h, "dose_hold_advised", "start", "medium", "active", "hold"),
    ]
    text = summary(course(truth), alerts, Thresholds())
    lines = text.splitlines()
    sbp = next(line for line in lines if line.strip().startswith("SBP < 90 mmHg"))
    assert "day 2 06:00" in sbp and "bp_falling day 1 20:00" in sbp and "+10.0 h (before)" in sbp
    weight = next(line for line in lines if "weight gain > 15 %" in line)
    assert "MISSED" in weight
    spo2 = next(line for line in lines if "SpO2 < 90 %" in line)
    assert "not met" in spo2 and "MISSED" not in spo2
    assert "first dose hold advised: day 2 07:00" in text
    assert sum("hypotension" in line for line in lines) == 1, "re-notifications are not listed"


def test_summary_does_not_claim_a_lead_from_an_alert_days_earlier() -> None:
    h = 3600.0
    truth = {"hold_criteria_first_met_s": {"spo2": 72 * h}, "first_hold_s": 72 * h}
    alerts = [
        SeenAlert(START + 1 * h, "desaturation", "start", "high", "active", "probe artifact"),
        SeenAlert(START + 71 * h, "spo2_falling", "start", "medium", "active", "SpO2 falling"),
    ]
    spo2 = next(
        line
        for line in summary(course(truth), alerts, Thresholds()).splitlines()
        if "SpO2 < 90 %" in line
    )
    assert "spo2_falling day 3 23:00" in spo2 and "+1.0 h (before)" in spo2
    assert "1 earlier, > 12 h before: not counted" in spo2


def test_alert_messages_parse_and_course_time_counts_days() -> None:
    body = {
        "msg_id": "m-1",
        "seq": 12,
        "alert": {
            "code": "hypotension",
            "phase": "start",
            "priority": "high",
            "state": "active",
            "event_time": "2026-01-06T22:58:18.916Z",
            "message": "SBP 86 below 90",
        },
    }
    a = alert_from_message(body)
    assert a is not None
    assert (a.code, a.phase, a.priority, a.state) == ("hypotension", "start", "high", "active")
    assert a.message == "SBP 86 below 90"
    assert course_time(a.time, START) == "day 2 22:58"
    assert alert_from_message({"msg_id": "m-2", "seq": 13, "alerts": []}) is None


def test_unknown_scenario_is_a_usage_error() -> None:
    r = run_cli("demo", "--scenario", "catastrophic", "--duration", "5", timeout=60)
    assert r.returncode == 2  # refused by the argument parser, before anything starts
    assert "with SEVERITY one of none, mild, moderate, severe" in r.stderr.decode()
    assert "got 'catastrophic'" in r.stderr.decode()


def test_summary_shows_every_dose_check_criterion_measured_and_truly_met() -> None:
    """Issue 14: the HR 100-130 criterion the pre-dose check uses was missing, so a hold
    advised for a heart rate of 112 looked hours early; and the time each criterion was
    first measured stands next to the time it was truly met."""
    from edge.vocabulary import Reading

    h = 3600.0
    truth = {
        "hold_criteria_first_met_s": {"sbp": 30 * h, "spo2": None, "weight": None, "hr": None},
        "first_hold_s": 30 * h,
    }
    pulse = [Reading.of("pulse", 80.0 if i < 17 * 60 else 118.0, time=START + 60.0 * i)
             for i in range(48 * 60)]  # fmt: skip
    nibp = [Reading.of("sbp", v, time=START + t * h) for t, v in ((4, 104.0), (31, 87.0))]
    c = Course(START, 2.0, {"spo2": pulse, "nibp": nibp}, [], truth, "moderate", 1)
    c.hr_relative_true_s = 17 * h
    alerts = [  # as the station received them: not in time order
        SeenAlert(START + 18 * h, "dose_hold_advised", "start", "medium", "active", "hold"),
        SeenAlert(START + 17.5 * h, "tachycardia", "start", "medium", "active", "pulse 104"),
    ]
    lines = summary(c, alerts, Thresholds()).splitlines()
    raised = lines[lines.index("Alerts raised (start and escalation events):") + 1 :][:2]
    assert "tachycardia" in raised[0] and "dose_hold_advised" in raised[1], raised
    header = next(line for line in lines if "criterion" in line and "truly met" in line)
    assert "first measured" in header
    hr_rel = next(line for line in lines if line.strip().startswith("HR 100-130 /min"))
    # truly met day 1 17:00; the smoothed pulse crosses 100 a few minutes later
    assert hr_rel.split()[4:7] == ["day", "1", "17:00"], hr_rel
    assert "day 1 17:0" in hr_rel.split("17:00", 1)[1], hr_rel
    assert any(line.strip().startswith("HR > 130 /min") for line in lines)
    sbp = next(line for line in lines if line.strip().startswith("SBP < 90 mmHg"))
    assert "day 2 06:00" in sbp and "day 2 07:00" in sbp, sbp  # truly met, then the cuff
    last = next(line for line in lines if "first dose hold advised" in line)
    assert "first dose hold advised: day 1 18:00" in last
    assert "first hold criterion truly met: day 1 17:00 (HR 100-130 /min (relative))" in last
