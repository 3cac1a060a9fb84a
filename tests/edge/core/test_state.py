"""The core's snapshot (``edge.core.state``): a restart in the middle changes nothing."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from edge.config import BedConfig, Config, PatientConfig
from edge.core import Core, output_dict
from edge.core.state import snapshot
from edge.vocabulary import Reading

T0 = 1_780_000_000.0
CONFIG = Config(bed=BedConfig("s", "u", "b"))


def leak(hours: int) -> list[Reading | float]:
    """Hourly NIBP falling from 125 after 6 h, a weight rising after 6 h, one dose at 3 h."""
    out: list[Reading | float] = []
    for h in range(hours):
        t = T0 + h * 3600.0
        sbp = 125.0 - max(0, h - 6) * 2.0
        out += [
            Reading.of("sbp", sbp, time=t, source="nibp"),
            Reading.of("dbp", sbp - 50, time=t, source="nibp"),
            Reading.of("map", sbp - 35, time=t, source="nibp"),
            Reading.of("weight", 70.0 + max(0, h - 6) * 0.4, time=t + 60, source="scale"),
        ]
        if h == 3:
            out.append(t + 120)  # a dose
    return out


def feed(core: Core, items: list[Reading | float]) -> list[dict[str, Any]]:
    out = []
    for x in items:
        outs = core.dose(x) if isinstance(x, float) else core.update(x)
        out += [output_dict(o) for o in outs]
        out += [output_dict(o) for o in core.tick(x if isinstance(x, float) else x.time or 0.0)]
    return out


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data))  # as the outbox stores it


@pytest.mark.parametrize("cut", [10, 20, 28])
def test_a_restart_anywhere_in_a_leak_gives_the_same_alerts(cut: int) -> None:
    stream = leak(36)
    cut_at = next(i for i, x in enumerate(stream) if not isinstance(x, float) and x.time
                  and x.time >= T0 + cut * 3600.0)  # fmt: skip
    whole = Core(CONFIG)
    expected = feed(whole, stream)
    first = Core(CONFIG)
    got = feed(first, stream[:cut_at])
    second = Core.from_snapshot(CONFIG, through_json(snapshot(first)))
    got += feed(second, stream[cut_at:])
    assert [a for a in got if a["type"] == "alert"]
    assert got == expected
    assert second.baselines()["sbp"] == {**whole.baselines()["sbp"], "restored": True}
    assert second.schedule.given == whole.schedule.given == 1
    assert second.active == whole.active


def test_without_the_snapshot_a_restart_mid_leak_learns_the_low_pressure() -> None:
    """What the snapshot prevents: a fresh core learns the leak as the patient's normal."""
    stream = leak(30)
    first = Core(CONFIG)
    feed(first, stream)
    learned = first.baselines()["sbp"]["value"]
    late = [x for x in stream if isinstance(x, Reading) and x.time and x.time >= T0 + 20 * 3600]
    fresh = Core(CONFIG)
    feed(fresh, late)
    restored = Core.from_snapshot(CONFIG, through_json(snapshot(first)))
    feed(restored, late)
    assert learned == 125.0
    assert fresh.baselines()["sbp"]["value"] < 105.0  # the bug a restart used to have
    assert restored.baselines()["sbp"]["value"] == learned


def test_precedence_holds_across_a_restart() -> None:
    core = Core(CONFIG)
    feed(core, leak(4))
    core.set_baseline("spo2", 96.0, T0)
    data = through_json(snapshot(core))
    configured = replace(CONFIG, patient=PatientConfig(baseline_sbp_mmhg=130.0,
                                                       baseline_spo2_pct=98.0))  # fmt: skip
    again = Core.from_snapshot(configured, data)
    b = again.baselines()
    assert b["sbp"] == {"value": 130.0, "source": "config", "n": 0}  # config over learned
    assert b["spo2"] == {"value": 96.0, "source": "command", "n": 0, "restored": True}
    assert b["weight"]["source"] == "learned" and b["weight"]["restored"] is True


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(version=99),
        lambda d: d.pop("schedule"),
        lambda d: d["schedule"].update(given="three"),
        lambda d: d["schedule"].update(given=1.5),
        lambda d: d["conditions"]["hypotension"].update(_above=[1.0]),
        lambda d: d["trends"]["sbp"].update(level=math.nan),
        lambda d: d["baselines"]["fixed"].update(sbp=[-5.0, "learned", None, 3]),
        lambda d: d["baselines"]["fixed"].update(sbp=[120.0, "guessed", None, 3]),
        lambda d: d["sensor_off"]["since"].update({f"d{i}": 1.0 for i in range(40)}),
        lambda d: d.update(last_nibp=[1.0, "nibp"]),
    ],
)
def test_a_damaged_snapshot_is_refused_not_half_used(damage: Any) -> None:
    core = Core(CONFIG)
    feed(core, leak(10))
    data = through_json(snapshot(core))
    damage(data)
    with pytest.raises(ValueError):
        Core.from_snapshot(CONFIG, data)


def test_signal_lost_and_a_learn_window_survive_a_restart() -> None:
    config = Config(bed=BedConfig("s", "u", "b"))
    core = Core(config)
    t0 = 1_780_000_000.0
    for i in range(5):
        core.update(Reading.of("spo2", 97, time=t0 + i, source="spo2"))
    core.update(Reading.of("sbp", 121, time=t0, source="nibp"))
    core.update(Reading.of("dbp", 75, time=t0, source="nibp"))
    core.flush()
    assert [a.code for a in core.tick(t0 + 700)] == ["signal_lost"]
    again = Core.from_snapshot(config, through_json(snapshot(core)))
    assert again.active == {"signal_lost/spo2": "medium"}
    out = again.update(Reading.of("spo2", 96, time=t0 + 800, source="spo2"))
    assert [(a.code, a.phase.value) for a in out] == [("signal_lost", "end")]
    assert snapshot(again)["baselines"]["learning"]["sbp"] == [t0, t0, 1, [121.0]]
