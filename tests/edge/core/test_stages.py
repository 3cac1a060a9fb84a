"""Validation, artifact filters, conditions and SatSeconds, one stage at a time."""

from __future__ import annotations

import math

import pytest

from edge.core.artifacts import NibpOutlierGate, SpO2ArtifactFilter, WeightStepFilter
from edge.core.baselines import Baselines
from edge.core.indicators import Condition, SatSeconds, graded
from edge.core.validation import NibpAssembler, derive_map, fault_reason
from edge.vocabulary import Priority, Reading

T0 = 1_780_000_000.0
L, M, H = Priority.LOW, Priority.MEDIUM, Priority.HIGH


def nibp(asm: NibpAssembler, t: float, **values: float) -> None:
    for signal, v in values.items():
        asm.add(Reading.of(signal, v, time=t, source="nibp"))


def test_map_is_derived_and_flagged_when_missing() -> None:
    asm = NibpAssembler()
    nibp(asm, T0, sbp=130, dbp=70)
    cycle = asm.flush()
    assert cycle is not None and cycle.problem() is None
    assert cycle.map == pytest.approx(derive_map(130, 70)) == pytest.approx(90.0)
    assert cycle.map_derived
    (m,) = [r for r in cycle.readings() if r.signal == "map"]
    assert m.flags == {"derived"}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"sbp": 120, "map": 125, "dbp": 70}, "order"),
        ({"sbp": 120, "map": 90, "dbp": 95}, "order"),
        ({"sbp": 70, "dbp": 80}, "order"),
        ({"dbp": 80}, "incomplete"),
        ({"sbp": 120, "map": 90, "dbp": 70}, None),
    ],
)
def test_cycle_order_sbp_map_dbp(values: dict[str, float], problem: str | None) -> None:
    asm = NibpAssembler()
    nibp(asm, T0, **values)
    cycle = asm.flush()
    assert cycle is not None
    assert cycle.problem() == problem


def test_flags_and_plausibility() -> None:
    assert fault_reason(Reading.of("spo2", 97, time=T0, flags={"artifact"})) == "flagged"
    assert fault_reason(Reading.of("weight", 70, time=T0, flags={"unstable"})) == "unstable"
    assert fault_reason(Reading.of("spo2", 30, time=T0)) == "implausible"
    assert fault_reason(Reading.of("map", 80, time=T0, flags={"derived"})) is None
    assert fault_reason(Reading.of("pulse", 72, time=T0)) is None


def test_spo2_filter_drops_fast_falls_but_accepts_persistent_ones() -> None:
    f = SpO2ArtifactFilter(drop_pct=4.0, confirm_s=10.0)
    assert f.accept(T0, 97)
    assert not f.accept(T0 + 1, 85)  # -12 % in a second
    assert f.accept(T0 + 2, 96)  # back: it was an artifact
    got = [f.accept(T0 + 3 + i, 84) for i in range(15)]
    assert got[:10] == [False] * 10 and all(got[11:])
    # slow physiological drifts are never rejected
    f2 = SpO2ArtifactFilter()
    assert all(f2.accept(T0 + i, 97 - i * 0.5) for i in range(30))
    # after a long dropout the next value is the new reference
    assert f2.accept(T0 + 1000, 80)


def test_weight_step_that_reverses_is_rejected_and_one_that_persists_is_tared() -> None:
    f = WeightStepFilter(step_kg=1.5, window_s=1800.0)
    assert f.add(T0, 70.0) == ([(T0, 70.0)], 0, "")
    for i in range(1, 5):
        assert f.add(T0 + 60 * i, 78.0) == ([], 0, "")
    assert f.add(T0 + 300, 70.2) == ([(T0 + 300, 70.2)], 4, "step_reversed")
    # a step that stays for the whole window is equipment: the scale is re-tared
    out = [f.add(T0 + 400 + 60 * i, 72.0) for i in range(31)]
    assert out[-1] == ([], 31, "step_tared")
    assert f.offset == pytest.approx(1.8)
    assert f.add(T0 + 2400, 72.1) == ([(T0 + 2400, 70.3)], 0, "")
    # ... and tared back when it is taken off again
    out = [f.add(T0 + 2500 + 60 * i, 70.2) for i in range(31)]
    assert out[-1][2] == "step_tared" and f.offset == pytest.approx(0.0, abs=0.15)
    # slow fluid gain is never a step
    g = WeightStepFilter()
    got = [g.add(T0 + 60 * i, 70.0 + 0.01 * i)[0] for i in range(300)]
    assert all(got) and got[-1][0][1] == pytest.approx(72.99)
    # standing-scale readings hours apart are never held
    h = WeightStepFilter()
    assert h.add(T0, 70.0)[0] and h.add(T0 + 12 * 3600, 72.5)[0]


def test_nibp_gate_confirm_and_refute() -> None:
    g = NibpOutlierGate(sigma=3.0, min_abs=15.0)
    assert g.check(80.0, -40.0, 64.0) == "hold"
    assert g.check(82.0, -38.0, 64.0) == "confirm"
    assert g.check(80.0, -40.0, 64.0) == "hold"
    assert g.check(121.0, 1.0, 64.0) == "refute"
    assert g.check(110.0, -10.0, 64.0) == "ok"  # small: within min_abs


def test_condition_needs_duration_and_does_not_flap() -> None:
    c = Condition("tachycardia", on_s=600.0, off_s=300.0)
    events = []
    for i in range(40):
        # a wish alternating every minute never lasts 10 min: nothing happens
        events.append(c.update(T0 + 60 * i, M if i % 2 else None, "m", {}))
    assert not any(events)
    for i in range(40, 60):
        events.append(c.update(T0 + 60 * i, M, "m", {}))
    started = [e for e in events if e]
    assert [e.phase.value for e in started] == ["start"]
    assert started[0].time == T0 + 60 * 49  # wish held from minute 39
    # short dips below do not end it; a sustained one does, once
    ends = [c.update(T0 + 3600 + 60 * i, None if i % 3 else M, "m", {}) for i in range(20)]
    assert not any(ends)
    ends = [c.update(T0 + 7200 + 60 * i, None, "m", {}) for i in range(10)]
    assert [e.phase.value for e in ends if e] == ["end"]


def test_condition_escalates_and_de_escalates() -> None:
    c = Condition("weight_gain")
    phases = [c.update(T0 + i, w, "m", {}) for i, w in enumerate([L, M, H, M, None])]
    assert [(e.phase.value, e.priority.value) for e in phases if e] == [
        ("start", "low"),
        ("escalate", "medium"),
        ("escalate", "high"),
        ("de-escalate", "medium"),
        ("end", "medium"),
    ]


def test_graded_hysteresis() -> None:
    steps = ((L, 5.0), (M, 10.0), (H, 15.0))
    assert graded(4.9, steps, None, 1.0) is None
    assert graded(4.5, steps, L, 1.0) is L
    assert graded(3.9, steps, L, 1.0) is None
    assert graded(16.0, steps, None, 1.0) is H


def test_satseconds_example_and_decay() -> None:
    s = SatSeconds(limit=90.0, setting=50.0)
    t = T0
    s.update(t, 95.0)
    for depth, secs in ((2, 2), (4, 3), (6, 6)):
        for _ in range(secs):
            t += 1
            s.update(t, 90.0 - depth)
    assert s.total == pytest.approx(52.0) and s.tripped
    for _ in range(20):
        t += 1
        s.update(t, 96.0)
    assert s.total == 0.0 and not s.tripped and s.quiet


def test_satseconds_three_excursions_within_60s_trip() -> None:
    s = SatSeconds(limit=90.0, setting=50.0)
    t = T0
    tripped = []
    for _ in range(3):
        s.update(t, 89.0)
        tripped.append(s.tripped)
        s.update(t + 1, 95.0)
        t += 20
    assert tripped == [False, False, True]
    s2 = SatSeconds(limit=90.0, setting=50.0)
    for k in range(3):
        s2.update(T0 + 100 * k, 89.0)
        s2.update(T0 + 100 * k + 1, 95.0)
    assert not s2.tripped


def test_baselines_config_command_learned() -> None:
    # one cycle makes a BP baseline only when configured so (issue 12 defaults: 4 over 1 h)
    b = Baselines(learn_h=1.0, configured={"weight": 70.0, "sbp": None}, min_cycles=1, min_span_h=0)
    assert b.get("weight").source == "config"
    b.observe("sbp", T0, 120.0)
    b.observe("map", T0 + 600.0, 90.0)
    assert b.next_close == T0 + 3600.0
    b.dose_given(T0 + 1800.0)  # the first dose ends learning at once
    assert b.get("sbp").value == 120.0 and b.get("sbp").source == "learned"
    assert b.observe("sbp", T0 + 1900.0, 100.0) is None  # learned: later values do not move it
    assert b.get("sbp").value == 120.0
    # no value before the first dose: the first one after it is the baseline
    late = b.observe("spo2", T0 + 2000.0, 97.0)
    assert late is not None and (late.value, late.n) == (97.0, 1)
    assert b.set("weight", 71.5, T0).source == "command"
    assert b.as_dict()["weight"]["value"] == 71.5
    with pytest.raises(ValueError):
        b.set("weight", -1.0, T0)


def test_a_bp_baseline_needs_cycles_over_hours_and_is_robust_to_a_dip() -> None:
    b = Baselines(learn_h=2.0, min_cycles=4, min_span_h=1.0)
    for k, sbp in enumerate((122.0, 118.0)):  # two cycles, then the first dose
        b.observe("sbp", T0 + k * 1800.0, sbp)
    b.dose_given(T0 + 3600.0)
    assert b.value("sbp") is None  # not used by the %-rule...
    assert b.as_dict()["sbp"] == {  # ...but reported, with why
        "value": 120.0,
        "source": "insufficient",
        "n": 2,
        "spread": 2.965,
        "span_h": 0.5,
    }
    # without a dose the window stays open past learn_h until it has the quality
    b = Baselines(learn_h=2.0, min_cycles=4, min_span_h=1.0)
    for k, sbp in enumerate((121.0, 123.0, 84.0)):  # one outlier / post-dose dip among them
        assert b.observe("sbp", T0 + k * 4 * 3600.0, sbp) is None
    assert b.next_close == math.inf
    learned = b.observe("sbp", T0 + 12 * 3600.0, 119.0)
    assert learned is not None and learned.value == 120.0 and learned.n == 4
    assert learned.span_h == 12.0
