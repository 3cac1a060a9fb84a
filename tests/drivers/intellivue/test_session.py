"""IntelliVue host session and passive decoder: numerics -> readings, the session state
machine on a hand clock against the simulated monitor.

Fixtures are built from the message layouts (PERSEUS, mindleaving): no
recording of a real monitor's serial stream was available."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import Session
from drivers.intellivue.codec import encode_abs_time, relative_time
from drivers.intellivue.framing import FrameReader, encode_frame
from drivers.intellivue.messages import (
    REFUSE,
    RELEASE_REQUEST,
    Message,
    Observation,
    association_request,
    association_response,
    extended_poll_request,
    keepalive_request,
    mds_create_event,
    mds_create_result,
    nibp_observation,
    nu_obs_value,
    numeric_observation,
    parse_message,
    poll_reply,
)
from drivers.intellivue.nomenclature import (
    MS_CALIBRATION_ONGOING,
    MS_DEMO_DATA,
    MS_IN_ALARM,
    MS_INVALID,
    MS_MSMT_ONGOING,
    MS_QUESTIONABLE,
    MS_TEST_DATA,
    MS_UNAVAILABLE,
    NOM_ATTR_NU_VAL_OBS,
    NOM_ATTR_TIME_STAMP_REL,
    NOM_DIM_BEAT_PER_MIN,
    NOM_DIM_DIMLESS,
    NOM_DIM_KILO_PA,
)
from drivers.intellivue.session import FRAME_WINDOW_S, IntelliVueDecoder, IntelliVueSession
from drivers.intellivue.simulator import IntelliVueMonitor, constant_scenario
from drivers.registry import get_driver
from edge.vocabulary import Reading

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_registered_with_serial_defaults() -> None:
    spec = get_driver("intellivue")
    assert (spec.baudrate, spec.bytesize, spec.parity, spec.stopbits) == (115200, 8, "N", 1)
    assert isinstance(spec.decoder("mp70", {}), IntelliVueDecoder)
    assert spec.session is not None
    session: Session = spec.session("mp70", {"poll_interval_s": "2"})
    assert isinstance(session, IntelliVueSession) and session.poll_interval_s == 2.0


def _reply(observations, **kw) -> bytes:
    return poll_reply(2, 1, 1, observations, **kw)


def _decode(*user_data: bytes, now: float | None = None, **options) -> list[Reading]:
    d = IntelliVueDecoder("mp", options)
    return d.feed(b"".join(encode_frame(u) for u in user_data), now)


def test_poll_reply_to_readings() -> None:
    obs = [
        nibp_observation(1, 121, 79, 93, time=T0 - 120),
        numeric_observation(2, "spo2", 96),
        numeric_observation(3, "pulse", 74),
        numeric_observation(4, "pi", 1.35),
    ]
    got = _decode(_reply(obs), now=T0)
    assert [(r.signal, r.value, r.unit, r.time) for r in got] == [
        ("sbp", 121.0, "mm[Hg]", T0 - 120),  # the measurement time
        ("dbp", 79.0, "mm[Hg]", T0 - 120),
        ("map", 93.0, "mm[Hg]", T0 - 120),
        ("spo2", 96.0, "%", T0),  # no time stamp: receive time
        ("pulse", 74.0, "/min", T0),
        ("pi", 1.35, "%", T0),
    ]
    assert all(r.source == "mp" and not r.flags for r in got)


def test_offline_decode_without_now_keeps_device_times_only() -> None:
    obs = [nibp_observation(1, 121, 79, 93, time=T0), numeric_observation(2, "spo2", 96)]
    got = _decode(_reply(obs))
    assert [(r.signal, r.time) for r in got] == [
        ("sbp", T0),
        ("dbp", T0),
        ("map", T0),
        ("spo2", None),
    ]


def test_reply_absolute_time_used_when_valid() -> None:
    got = _decode(
        _reply([numeric_observation(2, "spo2", 96)], abs_time=encode_abs_time(T0 + 3, 1)),
        now=T0 + 10,
        utc_offset_h=1,
    )
    assert [r.time for r in got] == [T0 + 3]


def test_relative_time_stamp_gives_measurement_time() -> None:
    obs = nibp_observation(1, 110, 70, 85, time=None)
    attrs = dict(obs.attributes)
    attrs[NOM_ATTR_TIME_STAMP_REL] = struct.pack(">I", relative_time(100.0))
    got = _decode(_reply([Observation(1, attrs)], rel_time=relative_time(160.0)), now=T0)
    assert [r.time for r in got] == [T0 - 60] * 3


def test_relative_time_stamp_wraps() -> None:
    obs = numeric_observation(2, "spo2", 96)
    attrs = dict(obs.attributes)
    attrs[NOM_ATTR_TIME_STAMP_REL] = struct.pack(">I", 0xFFFFFFFF - 7999)  # 1 s before wrap
    got = _decode(_reply([Observation(2, attrs)], rel_time=8000), now=T0)
    assert got[0].time == pytest.approx(T0 - 2.0)


def test_nan_and_special_values_give_no_reading() -> None:
    obs = [
        nibp_observation(1, None, None, None),
        numeric_observation(2, "spo2", None),
        numeric_observation(3, "pulse", float("inf")),
        numeric_observation(4, "pi", 2.0),
    ]
    d = IntelliVueDecoder("mp", {})
    got = d.feed(encode_frame(_reply(obs)), T0)
    assert [r.signal for r in got] == ["pi"]
    assert not d.rejected


def test_measurement_state_bits_to_flags() -> None:
    obs = [
        numeric_observation(2, "spo2", 88, state=MS_INVALID),
        numeric_observation(3, "pulse", 130, state=MS_QUESTIONABLE | MS_IN_ALARM),
        numeric_observation(4, "pi", 0.2, state=MS_CALIBRATION_ONGOING),
        nibp_observation(1, 90, 60, 70, state=MS_MSMT_ONGOING, time=T0),
    ]
    got = {r.signal: sorted(r.flags) for r in _decode(_reply(obs), now=T0)}
    assert got == {
        "spo2": ["artifact"],
        "pulse": ["low_quality"],
        "pi": ["searching"],
        "sbp": ["unstable"],
        "dbp": ["unstable"],
        "map": ["unstable"],
    }


def test_unavailable_and_demo_data_give_no_reading() -> None:
    obs = [
        numeric_observation(2, "spo2", 97, state=MS_UNAVAILABLE),
        numeric_observation(3, "pulse", 70, state=MS_DEMO_DATA),
        numeric_observation(4, "pi", 3, state=MS_TEST_DATA),
    ]
    d = IntelliVueDecoder("mp", {})
    assert d.feed(encode_frame(_reply(obs)), T0) == []
    assert d.skipped["demo_data"] == 2 and not d.rejected
    allowed = _decode(_reply(obs), now=T0, accept_demo_data="true")
    assert [r.signal for r in allowed] == ["pulse", "pi"]


def test_units_kpa_converted_unknown_rejected() -> None:
    obs = [
        nibp_observation(1, 16, 10.6, 12.4, unit=NOM_DIM_KILO_PA, time=T0),
        numeric_observation(2, "spo2", 97, unit=NOM_DIM_BEAT_PER_MIN),
        numeric_observation(4, "pi", 1.5, unit=NOM_DIM_DIMLESS),
    ]
    d = IntelliVueDecoder("mp", {})
    got = {r.signal: r.value for r in d.feed(encode_frame(_reply(obs)), T0)}
    assert got == {"sbp": 120.01, "dbp": 79.507, "map": 93.008, "pi": 1.5}
    assert d.rejected["unit"] == 1


def test_implausible_values_rejected() -> None:
    obs = [numeric_observation(2, "spo2", 140), numeric_observation(3, "pulse", -5)]
    d = IntelliVueDecoder("mp", {})
    assert d.feed(encode_frame(_reply(obs)), T0) == []
    assert d.rejected["range"] == 2


def test_nibp_emitted_once_per_measurement() -> None:
    d = IntelliVueDecoder("mp", {})

    def poll(sbp: float, when: float) -> list[str]:
        obs = [
            nibp_observation(1, sbp, 70, 85, time=when),
            numeric_observation(2, "spo2", 97),
        ]
        return [r.signal for r in d.feed(encode_frame(_reply(obs)), T0)]

    assert poll(120, T0) == ["sbp", "dbp", "map", "spo2"]
    assert poll(120, T0) == ["spo2"]  # same measurement repeated by the monitor
    assert poll(120, T0 + 300) == ["sbp", "dbp", "map", "spo2"]  # new measurement, same values
    assert poll(118, T0 + 300) == ["sbp", "dbp", "map", "spo2"]  # corrected values


def test_first_value_per_signal_wins_and_unknown_physio_ignored() -> None:
    other = Observation(9, {NOM_ATTR_NU_VAL_OBS: nu_obs_value(0x4182, 37.0, 6048)})  # a temperature
    obs = [other, numeric_observation(2, "spo2", 97), numeric_observation(5, "spo2", 91)]
    assert [(r.signal, r.value) for r in _decode(_reply(obs), now=T0)] == [("spo2", 97.0)]


def test_linked_and_single_poll_replies_decode() -> None:
    obs = [numeric_observation(2, "spo2", 97)]
    linked = [
        poll_reply(2, 1, 1, obs, linked_state=1, linked_count=1),
        poll_reply(2, 1, 1, [numeric_observation(3, "pulse", 66)], linked_state=3),
    ]
    single = poll_reply(2, 1, 1, obs, extended=False)
    got = _decode(*linked, single, now=T0)
    assert [(r.signal, r.value) for r in got] == [("spo2", 97), ("pulse", 66), ("spo2", 97)]
    assert linked[0][4:6] == b"\x00\x05" and linked[0][22:24] == b"\xf1\x3b"  # PERSEUS offsets


def test_decoder_skips_other_messages_and_counts_malformed() -> None:
    d = IntelliVueDecoder("mp", {})
    stream = b"".join(
        encode_frame(u)
        for u in (
            association_response(),
            mds_create_event(2, 1, 0),
            # host frames too, as in a capture tapping both lines
            association_request(),
            extended_poll_request(2, 1, 1),
            mds_create_result(2, 1, bytes(6), 0),
            b"\xe1\x00\x00\x02\x00\x02\x00\x40\x00",  # RORS claiming 64 bytes, has 1
            _reply([numeric_observation(2, "spo2", 95)]),
        )
    )
    assert [r.value for r in d.feed(stream, T0)] == [95.0]
    assert d.rejected == {"malformed": 1}


@given(st.binary(max_size=600), st.integers(1, 64))
def test_decoder_fuzz_then_recovers(noise: bytes, chunk: int) -> None:
    d = IntelliVueDecoder("mp", {})
    good = encode_frame(_reply([numeric_observation(2, "spo2", 95)]))
    # random user data inside valid frames too: exercises the message parser
    stream = noise + encode_frame(noise[:200]) + good
    got = [r for i in range(0, len(stream), chunk) for r in d.feed(stream[i : i + chunk], T0)]
    assert got[-1].signal == "spo2" and got[-1].value == 95.0


@given(st.binary(min_size=1, max_size=120), st.data())
def test_corrupt_fcs_never_yields_a_reading(payload_noise: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(_reply([numeric_observation(2, "spo2", 95)])))
    pos = data.draw(st.integers(1, len(frame) - 2))
    frame[pos] ^= data.draw(st.integers(1, 255))
    d = IntelliVueDecoder("mp", {})
    assert d.feed(bytes(frame), T0) == []


# --- the host session (pure, time given by hand) ----------------------------------
def _frames(data: bytes) -> list[Message]:
    return [parse_message(u) for u in FrameReader().feed(data)]


def _kinds(data: bytes) -> list[str]:
    return [m.kind for m in _frames(data)]


class Bench:
    """A session and a simulated monitor wired back to back, with a hand clock."""

    def __init__(self, **options) -> None:
        self.t = T0
        self.session = IntelliVueSession("mp", options)
        self.monitor = IntelliVueMonitor(constant_scenario(T0, nibp_every_s=30), start=T0)
        self.readings: list[Reading] = []
        self.to_monitor: list[tuple[float, bytes]] = []

    def step(self, dt: float = 0.05, deliver: bool = True) -> None:
        out = self.session.on_timer(self.t)
        while out:
            self.to_monitor.append((self.t, out))
            back = self.monitor.feed(out, self.t) if deliver else b""
            readings, out = self.session.feed(back, self.t)
            self.readings += readings
        self.monitor.on_timer(self.t)
        self.t += dt

    def run(self, seconds: float, dt: float = 0.05, deliver: bool = True) -> None:
        end = self.t + seconds
        while self.t < end:
            self.step(dt, deliver)

    def inject(self, data: bytes) -> None:
        readings, out = self.session.feed(data, self.t)
        self.readings += readings
        if out:
            self.to_monitor.append((self.t, out))
            self.monitor.feed(out, self.t)


def test_session_associates_answers_mds_and_polls() -> None:
    b = Bench()
    b.step()
    assert _kinds(b.to_monitor[0][1]) == ["assoc_request"]
    b.run(3.0)
    assert b.session.state == "polling" and b.session.associated
    assert b.monitor.received["event_result"] == 1
    polls = b.monitor.received["poll_request"]
    assert 3 <= polls <= 4  # one on association, then one a second
    signals = [r.signal for r in b.readings]
    assert signals[:6] == ["sbp", "dbp", "map", "spo2", "pulse", "pi"]
    assert signals.count("sbp") == 1 and signals.count("spo2") == polls


def test_session_uses_the_monitors_context_id() -> None:
    b = Bench()
    b.monitor.context = 7
    b.run(1.5)
    polls = [m for _, out in b.to_monitor for m in _frames(out) if m.kind == "poll_request"]
    assert polls and all(m.context == 7 for m in polls)


def test_frame_rate_limit_towards_monitor() -> None:
    s = IntelliVueSession("mp", {"poll_interval_s": 0.2})
    t = T0
    sent: list[float] = []
    s.on_timer(t)  # association request
    s.feed(encode_frame(association_response()), t)
    # a burst: MDS create answered, plus many keep-alives/polls queued at once
    for _ in range(10):
        s._send(keepalive_request(2, 1, 1), t)
    _, out = s.feed(encode_frame(mds_create_event(2, 1, 0)), t)
    sent += [t] * len(_frames(out))
    while t < T0 + 2:
        t += 0.01
        out = s.on_timer(t)
        sent += [t] * len(_frames(out))
    assert len(sent) >= 11
    for i in range(len(sent) - 4):
        assert sent[i + 4] - sent[i] >= FRAME_WINDOW_S - 1e-9, "more than 4 frames in 128 ms"


def test_keepalive_when_polls_are_sparse() -> None:
    b = Bench(poll_interval_s=30, keepalive_s=2)
    b.run(12)
    assert b.session.events["keepalive"] >= 4
    assert b.monitor.received["poll_request"] >= 5  # 1 numerics poll + keep-alive single polls
    assert b.session.state == "polling"


def test_association_retried_when_monitor_does_not_answer() -> None:
    b = Bench(association_timeout_s=1)
    b.run(3.5, deliver=False)
    kinds = [k for _, out in b.to_monitor for k in _kinds(out)]
    assert kinds == ["assoc_request"] + ["abort", "assoc_request"] * 3
    assert b.session.events["association_timeout"] == 3


def test_monitor_abort_then_reassociation() -> None:
    b = Bench(reassociate_delay_s=1)
    b.run(2)
    before = len(b.readings)
    b.inject(b.monitor.abort())
    assert b.session.state == "idle" and b.session.events["abort_received"] == 1
    b.run(3)
    assert b.session.state == "polling" and b.session.events["associated"] == 2
    assert b.monitor.received["assoc_request"] == 2
    assert len(b.readings) > before


def test_release_request_answered_then_reassociation() -> None:
    b = Bench(reassociate_delay_s=0.5)
    b.run(1.5)
    b.inject(encode_frame(RELEASE_REQUEST))
    assert "release_response" in _kinds(b.to_monitor[-1][1])
    b.monitor.state = "unassociated"
    b.run(2)
    assert b.session.events["associated"] == 2


def test_refuse_then_retry() -> None:
    b = Bench(reassociate_delay_s=0.5)
    b.step()
    b.inject(encode_frame(REFUSE))
    assert b.session.state == "idle" and b.session.events["refused"] == 1
    b.run(2)
    assert b.session.state == "polling"


def test_silence_aborts_and_reassociates() -> None:
    b = Bench(silence_s=2, reassociate_delay_s=0.5, association_timeout_s=1)
    b.run(2)
    b.monitor.silence(b.t, 3)
    b.run(2.5)
    assert b.session.events["silence"] == 1
    assert any("abort" in _kinds(out) for _, out in b.to_monitor)
    b.run(4)
    assert b.session.state == "polling" and b.session.events["associated"] == 2


def test_mds_timeout_aborts() -> None:
    s = IntelliVueSession("mp", {"association_timeout_s": 1, "reassociate_delay_s": 1})
    s.on_timer(T0)
    s.feed(encode_frame(association_response()), T0)
    assert s.state == "awaiting_mds"
    assert _kinds(s.on_timer(T0 + 1.1)) == ["abort"]
    assert s.state == "idle"
    assert _kinds(s.on_timer(T0 + 2.2)) == ["assoc_request"]


def test_corrupt_frames_from_monitor_are_dropped_session_continues() -> None:
    b = Bench()
    b.run(1.5)
    b.monitor.corrupt_next(2)
    b.run(3)
    assert b.session.rejected["checksum"] == 2
    assert b.session.state == "polling"


def test_close_releases() -> None:
    b = Bench()
    b.run(1.5)
    assert _kinds(b.session.close(b.t)) == ["release_request"]
    assert b.session.state == "released"


def test_next_timer_is_bounded_and_due() -> None:
    s = IntelliVueSession("mp", {})
    assert s.next_timer(T0) == 0.0  # associate now
    s.on_timer(T0)
    assert 4.9 < s.next_timer(T0) <= 5.0  # association timeout


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        IntelliVueSession("mp", {"poll_interval_s": 0})
    with pytest.raises(ValueError, match="silence_s"):
        IntelliVueSession("mp", {"silence_s": "soon"})
    with pytest.raises(ValueError, match="utc_offset_h must be a number"):
        IntelliVueDecoder("mp", {"utc_offset_h": "CET"})
    with pytest.raises(ValueError, match=r"utc_offset_h must be -14\.\.14"):
        IntelliVueSession("mp", {"utc_offset_h": 60})
    with pytest.raises(ValueError, match="keepalive_s must be a finite number"):
        IntelliVueSession("mp", {"keepalive_s": "inf"})
    with pytest.raises(ValueError, match="longer than poll_interval_s or keepalive_s"):
        IntelliVueSession("mp", {"silence_s": 1, "poll_interval_s": 1})


@given(st.lists(st.binary(max_size=200), max_size=8))
def test_session_fuzz_never_raises(chunks: list[bytes]) -> None:
    s = IntelliVueSession("mp", {})
    t = T0
    for c in chunks:
        s.on_timer(t)
        s.feed(c, t)
        s.feed(encode_frame(c), t)
        t += 0.3


def test_session_respects_the_monitors_minimum_poll_period() -> None:
    b = Bench(poll_interval_s=0.25, silence_s=5)
    b.monitor.min_poll_period_s = 2.0
    b.run(6.9)
    assert b.session.poll_interval_s == 2.0
    assert b.monitor.received["poll_request"] == 4  # at 0, 2, 4, 6 s


def test_association_failures_warn_once_a_minute_not_every_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    b = Bench()  # association timeout 5 s
    with caplog.at_level("WARNING", logger="drivers.intellivue"):
        b.run(66, dt=0.5, deliver=False)
    warnings = [r for r in caplog.records if "no association response" in r.getMessage()]
    assert b.session.events["association_timeout"] == 13
    assert len(warnings) == 2  # the first try and the twelfth
    assert "115200 8N1" in warnings[0].getMessage()


def test_session_stamps_readings_with_clock_time_and_times_with_now() -> None:
    s = IntelliVueSession("mp", {})
    s.on_timer(100.0)  # monotonic seconds
    s.feed(encode_frame(association_response()), 100.1)
    s.feed(encode_frame(mds_create_event(2, 1, 0)), 100.2)
    assert _kinds(s.on_timer(100.3)) == ["poll_request"]
    readings, _ = s.feed(
        encode_frame(_reply([numeric_observation(2, "spo2", 95)])), 100.4, stamp=T0
    )
    assert [(r.signal, r.time) for r in readings] == [("spo2", T0)]
    assert s.next_timer(100.4) == pytest.approx(0.8)  # next poll due at 101.2 (monotonic)


def test_random_faults_for_an_hour_the_session_always_recovers() -> None:
    """One simulated hour, a random fault every 20-60 s; pure, on a hand clock."""
    import random

    rng = random.Random(7)
    b = Bench(reassociate_delay_s=1, association_timeout_s=2, silence_s=4)
    faults: list[tuple[float, str]] = []
    next_fault = T0 + 20
    checked = 0
    while b.t < T0 + 3600:
        if b.t >= next_fault:
            if not faults or b.t - faults[-1][0] >= 25:
                # the previous fault is over within 25 s: associated and polling again
                assert b.session.state == "polling", (faults[-3:], dict(b.session.events))
                checked += 1
            kind = rng.choice(["abort", "release", "refuse", "corrupt", "silence", "garbage"])
            faults.append((b.t, kind))
            if kind == "abort":
                b.inject(b.monitor.abort())
            elif kind == "release":
                b.inject(b.monitor.release())
            elif kind == "refuse":
                b.monitor.refuse_next(2)
                b.inject(b.monitor.abort())
            elif kind == "corrupt":
                b.monitor.corrupt_next(rng.randint(1, 3))
            elif kind == "silence":
                b.monitor.silence(b.t, rng.uniform(1, 15))
            else:
                b.inject(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
            next_fault = b.t + rng.uniform(20, 60)
        b.step(0.05)
    assert b.session.state == "polling"
    assert checked >= 50
    kinds = {k for _, k in faults}
    assert kinds == {"abort", "release", "refuse", "corrupt", "silence", "garbage"}
    # the monitor's frame-rate limit held for the whole hour
    times = [t for t, out in b.to_monitor for _ in _frames(out)]
    assert all(times[i + 4] - times[i] >= FRAME_WINDOW_S - 1e-9 for i in range(len(times) - 4))
    spo2 = [r.time for r in b.readings if r.signal == "spo2"]
    assert len(spo2) > 3000  # of 3600 polls, minus the outages
