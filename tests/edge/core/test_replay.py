"""``capleak replay``: the CSV-in, JSON-lines-out contract, through the real CLI process."""

from __future__ import annotations

import json
from pathlib import Path

from edge.vocabulary import iso_time
from tests.support import run_cli

T0 = 1_780_000_000  # 2026-05-28T20:26:40Z
ALERT_KEYS = {"type", "time", "code", "priority", "kind", "phase", "message", "values"}


def write_csv(path: Path, rows: list[str], header: str = "time,signal,value,flags") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def lines(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def weight_rows(gains: list[float], base: float = 70.0) -> list[str]:
    return [f"{T0 + k * 43200},weight,{base * (1 + g / 100):.1f}," for k, g in enumerate(gains)]


def test_replay_prints_alert_events_as_json_lines(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "w.csv", weight_rows([0, 3, 6, 9, 12, 16, 16.5, 16]))
    res = run_cli("replay", str(csv), "--baseline-weight", "70")
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    events = lines(res.stdout)
    assert events, "no alert events"
    for e in events:
        assert set(e) == ALERT_KEYS
        assert e["type"] == "alert"
        assert e["time"].endswith("Z")
    assert [(e["code"], e["phase"], e["priority"]) for e in events] == [
        ("weight_gain", "start", "low"),
        ("weight_gain", "escalate", "medium"),
        ("weight_gain", "escalate", "high"),
    ]
    high = events[-1]
    assert high["kind"] == "physiological"
    assert high["values"]["gain_pct"] > 15
    assert "kg_per_24h" in high["values"]
    # the time is the time of the reading that triggered it
    assert high["time"] in {iso_time(T0 + k * 43200) for k in range(8)}


def test_replay_bad_rows_are_named_skipped_counted(tmp_path: Path) -> None:
    rows = [
        "2026-05-28T20:00:00Z,sbp,120,",
        "2026-05-28T20:00:00Z,dbp,75,",
        "2026-05-28T20:00:01Z,spo2,ninety,",
        "2026-05-28T20:00:02Z,glucose,5,",
        "2026-05-28T20:00:03,spo2,97,",
        "2026-05-28T20:00:04Z,spo2,97,wobbly",
        "2026-05-28T20:00:05Z,spo2",
        "2026-05-28T20:00:06Z,spo2,97,artifact;low_perfusion",
        "2026-05-28T20:00:07+02:00,dose,,",
    ]
    csv = write_csv(tmp_path / "bad.csv", rows)
    res = run_cli("replay", str(csv), "--all")
    assert res.returncode == 0
    err = res.stderr.decode()
    assert "Traceback" not in err
    for line_no in (4, 5, 6, 7, 8):
        assert f"line {line_no}:" in err
    assert "line 2:" not in err and "line 9:" not in err and "line 10:" not in err
    assert "5 bad row(s) skipped" in err
    out = lines(res.stdout)
    assert all("type" in o for o in out)
    assert {o["type"] for o in out} <= {"alert", "dose_check", "trend"}


def test_replay_all_adds_dose_checks_and_trends(tmp_path: Path) -> None:
    rows = []
    for k in range(0, 12 * 3600, 900):  # 12 h of NIBP every 15 min and SpO2/pulse
        t = T0 + k
        rows += [f"{t},sbp,{120 - k / 3600 * 3:.0f},", f"{t},dbp,75,", f"{t},map,90,"]
        rows += [f"{t},spo2,97,", f"{t},pulse,80,"]
    rows.insert(1, f"{T0},dose,,")
    csv = write_csv(tmp_path / "a.csv", rows)
    plain = lines(run_cli("replay", str(csv)).stdout)
    res = run_cli("replay", str(csv), "--all")
    assert res.returncode == 0, res.stderr
    out = lines(res.stdout)
    types = {o["type"] for o in out}
    assert types == {"alert", "dose_check", "trend"} or types == {"dose_check", "trend"}
    assert [o for o in out if o["type"] == "alert"] == plain
    checks = [o for o in out if o["type"] == "dose_check"]
    assert len(checks) == 1
    assert checks[0]["due"] == iso_time(T0 + 8 * 3600)
    assert {c["name"] for c in checks[0]["criteria"]} == {
        "sbp",
        "spo2",
        "weight_gain",
        "hr_absolute",
        "hr_relative",
    }
    trends = [o for o in out if o["type"] == "trend"]
    assert len(trends) > 10
    assert trends[-1]["signals"]["sbp"]["slope_per_h"] < 0


def test_replay_with_config_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bed.toml"
    cfg.write_text(
        '[bed]\nsite = "s"\nunit = "u"\nbed = "b"\n'
        "[patient]\nbaseline_weight_kg = 70.0\n"
        "[thresholds]\nweight_gain_pct = [2.0, 4.0, 6.0]\n"
    )
    csv = write_csv(tmp_path / "w.csv", weight_rows([0, 3, 7, 7]))
    res = run_cli("replay", str(csv), "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    assert [e["priority"] for e in lines(res.stdout)][-1] == "high"
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text('[bed]\nsite = "s"\nunit = "u"\nbed = "b"\n[thresholds]\nhold_sbp = 1\n')
    res = run_cli("replay", str(csv), "--config", str(bad_cfg))
    assert res.returncode == 78
    assert b"thresholds.hold_sbp" in res.stderr
    res = run_cli("replay", str(tmp_path / "nope.csv"))
    assert res.returncode == 1
    assert b"cannot read" in res.stderr and b"Traceback" not in res.stderr


def test_replay_epoch_and_iso_times_and_header_order(tmp_path: Path) -> None:
    csv = tmp_path / "h.csv"
    csv.write_text(
        "signal,value,time\n"
        + "".join(f"weight,{v},{T0 + k * 43200}\n" for k, v in enumerate([70, 74, 78, 82]))
    )
    res = run_cli("replay", str(csv), "--baseline-weight", "70")
    assert res.returncode == 0, res.stderr
    assert [e["priority"] for e in lines(res.stdout)] == ["low", "medium", "high"]


def test_every_alert_time_is_the_time_of_an_input_reading(tmp_path: Path) -> None:
    cfg = tmp_path / "bed.toml"
    cfg.write_text(
        '[bed]\nsite = "s"\nunit = "u"\nbed = "b"\n[thresholds]\ntachycardia_min_s = 300\n'
    )
    rows = []
    for i in range(3600):  # an hour at 1 Hz: tachycardia, then a desaturation, then recovery
        t = T0 + i + 0.25
        pulse = 120 if 600 <= i < 2400 else 80
        spo2 = 84 if 2500 <= i < 2700 else 97 - (i - 2470) * 0.4 if 2470 <= i < 2500 else 97
        rows += [f"{t},spo2,{spo2:.1f},", f"{t},pulse,{pulse},"]
    csv = write_csv(tmp_path / "t.csv", rows)
    res = run_cli("replay", str(csv), "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    events = lines(res.stdout)
    assert {e["code"] for e in events} == {"tachycardia", "desaturation"}
    inputs = {iso_time(T0 + i + 0.25) for i in range(3600)}
    assert all(e["time"] in inputs for e in events)
