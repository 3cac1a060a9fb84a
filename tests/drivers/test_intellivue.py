"""IntelliVue data export: FLOAT-Type, messages, numerics -> readings, the host session.

Fixtures are built from the message layouts (PERSEUS, mindleaving): no
recording of a real monitor's serial stream was available. The association
request is checked byte for byte against the fixed headers both open
implementations send.
"""

from __future__ import annotations

import contextlib
import doctest
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import intellivue as iv
from drivers.base import Session
from drivers.intellivue_frame import FrameReader, encode_frame
from drivers.intellivue_sim import IntelliVueMonitor, constant_scenario
from drivers.registry import get_driver
from edge.vocabulary import Reading

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_doctests() -> None:
    assert doctest.testmod(iv).failed == 0


def test_registered_with_serial_defaults() -> None:
    spec = get_driver("intellivue")
    assert (spec.baudrate, spec.bytesize, spec.parity, spec.stopbits) == (115200, 8, "N", 1)
    assert isinstance(spec.decoder("mp70", {}), iv.IntelliVueDecoder)
    assert spec.session is not None
    session: Session = spec.session("mp70", {"poll_interval_s": "2"})
    assert isinstance(session, iv.IntelliVueSession) and session.poll_interval_s == 2.0


# --- FLOAT-Type -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        # examples from the programming guide, as quoted in mindleaving's tests
        (0xFD007D00, 32.0),
        (0xFF000140, 32.0),
        (0x01000140, 3200.0),
        (0x02000020, 3200.0),
        # hand-computed
        (0xFF0003CF, 97.5),
        (0x00000078, 120.0),
        (0xFEFFFF9C, -1.0),  # mantissa -100, exponent -2
        (0x00000000, 0.0),
    ],
)
def test_float_examples(raw: int, value: float) -> None:
    assert iv.decode_float(raw) == value


@pytest.mark.parametrize("mantissa", [0x7FFFFF, 0x800000, 0x7FFFFE, 0x800002, 0x800001])
@pytest.mark.parametrize("exponent", [0x00, 0xFF, 0x7F, 0x80])
def test_float_special_values_are_no_reading(mantissa: int, exponent: int) -> None:
    assert iv.decode_float((exponent << 24) | mantissa) is None


@given(st.integers(-128, 127), st.integers(-0x7FFFFD, 0x7FFFFD))
def test_float_parts_round_trip(exponent: int, mantissa: int) -> None:
    raw = iv.encode_float_parts(exponent, mantissa)
    value = iv.decode_float(raw)
    assert value is not None
    expected = mantissa * 10**exponent
    assert value == pytest.approx(float(expected), rel=1e-12, abs=0)


@given(st.integers(-9_999_999, 9_999_999), st.integers(0, 3))
def test_float_decimal_round_trip(units: int, decimals: int) -> None:
    value = units / 10**decimals
    decoded = iv.decode_float(iv.encode_float(value))
    assert decoded == pytest.approx(value, rel=1e-6, abs=10**-decimals)


def test_float_encodes_none_and_nan_as_nan() -> None:
    assert iv.encode_float(None) == iv.FLOAT_NAN
    assert iv.encode_float(float("nan")) == iv.FLOAT_NAN
    assert iv.decode_float(iv.encode_float(float("inf"))) is None


@given(st.integers(946_684_800, 4_102_444_799), st.integers(0, 99), st.sampled_from([0, 1, -5]))
def test_abs_time_round_trip(seconds: int, hundredths: int, offset: int) -> None:
    t = seconds + hundredths / 100
    raw = iv.encode_abs_time(t, offset)
    assert iv.decode_abs_time(raw, offset) == pytest.approx(t, abs=1e-6)


def test_abs_time_invalid() -> None:
    assert iv.decode_abs_time(iv.ABS_TIME_INVALID) is None
    assert iv.decode_abs_time(bytes.fromhex("20 26 13 01 00 00 00 00")) is None  # month 13
    assert iv.encode_abs_time(T0) == bytes.fromhex("20 26 01 01 00 00 00 00")


# --- association and data export messages ---------------------------------------
def test_association_request_layout() -> None:
    req = iv.association_request(1.0)
    # session SPDU CN, LI = rest of message
    assert req[0] == 0x0D and req[1] == len(req) - 2
    assert req[2:16] == bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
    # presentation header C1, LI = rest of message
    assert req[16] == 0xC1 and req[17] == len(req) - 18
    assert req[18 : 18 + len(iv.ASSOC_REQ_PRESENTATION)] == iv.ASSOC_REQ_PRESENTATION
    at = 18 + len(iv.ASSOC_REQ_PRESENTATION)
    info_len = req[at]
    info = req[at + 1 : at + 1 + info_len]
    assert req[at + 1 + info_len :] == bytes(16)  # presentation trailer
    version, nomen, units, system, startup = struct.unpack(">5I", info[:20])
    assert (version, nomen, units, system, startup) == (
        0x80000000,
        0x40000000,
        0,
        0x80000000,
        0x20000000,
    )
    assert iv.parse_min_poll_period(req) == 1.0  # 8000 ticks of 1/8 ms
    assert iv.parse_message(req).kind == "assoc_request"


# Fixed byte sequences of a third open client (C# anaesthesia-record software found
# by code search; it talks over LAN, whose user data are the same messages).
THIRD_CLIENT_ASSOC_REQ = bytes.fromhex(
    "0d ec 05 08 13 01 00 16 01 02 80 00 14 02 00 02"
    " c1 dc 31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01"
    " 01 06 04 52 01 00 01 30 80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0c"
    " 2a 86 48 ce 14 02 01 00 00 00 01 01 30 80 06 0c 2a 86 48 ce 14 02 01 00"
    " 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01 a0 80 60 80 a1 80 06"
    " 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 be 80 28 80 06 0c 2a 86 48"
    " ce 14 02 01 00 00 00 01 01 02 01 02 81"
    " 48 80 00 00 00 40 00 00 00 00 00 00 00 80 00 00 00 20 00 00 00 00 00 00 00"
    " 00 01 00 2c 00 01 00 28 80 00 00 00 00 00 09 c4 00 00 09 c4 00 00 03 e8"
    " ff ff ff ff 60 00 00 00 00 01 00 0c f0 01 00 08 80 00 00 00 00 00 00 00"
    " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
)
THIRD_CLIENT_EVENT_RESULT = bytes.fromhex(
    "e1 00 00 02 00 02 00 14 00 01 00 01 00 0e 00 21 00 00 00 00 00 48 47 00 0d 06 00 00"
)
THIRD_CLIENT_EXT_POLL = bytes.fromhex(
    "e1 00 00 02 00 01 00 20 00 01 00 07 00 1a 00 21 00 00 00 00 00 00 00 00"
    " f1 3b 00 0c 00 01 00 01 00 06 08 03 00 00 00 00"
)


def test_messages_match_a_third_clients_bytes() -> None:
    # its min poll period is 2500 ticks of 1/8 ms; its poll asks for group 0x0803
    assert iv.association_request(min_poll_period_s=2500 / 8000) == THIRD_CLIENT_ASSOC_REQ
    event = iv.parse_message(iv.mds_create_event(2, 1, 0x00484700))
    result = iv.mds_create_result(2, event.invoke_id, event.managed_object, event.event_time)
    assert result == THIRD_CLIENT_EVENT_RESULT
    assert iv.extended_poll_request(2, 1, 1, attr_group=0x0803) == THIRD_CLIENT_EXT_POLL
    assert iv.parse_message(THIRD_CLIENT_EXT_POLL).request == iv.PollRequest(
        iv.NOM_ACT_POLL_MDIB_DATA_EXT, 1, iv.NOM_MOC_VMO_METRIC_NU, 0x0803, None
    )


def test_fixed_association_control_messages() -> None:
    assert iv.parse_message(iv.ABORT).kind == "abort"
    assert iv.parse_message(iv.RELEASE_REQUEST).kind == "release_request"
    assert iv.parse_message(iv.RELEASE_RESPONSE).kind == "release_response"
    assert iv.parse_message(iv.REFUSE).kind == "refuse"
    assert iv.parse_message(iv.association_response(2.0)).kind == "assoc_accept"
    # length indicators cover the rest of each message
    for msg in (iv.ABORT, iv.RELEASE_REQUEST, iv.RELEASE_RESPONSE, iv.REFUSE):
        assert msg[1] == len(msg) - 2


def test_mds_create_event_and_result() -> None:
    event = iv.mds_create_event(context=7, invoke_id=0x1234, rel_time=99)
    msg = iv.parse_message(event)
    assert (msg.kind, msg.context, msg.invoke_id, msg.event_time) == ("mds_create", 7, 0x1234, 99)
    result = iv.mds_create_result(msg.context, msg.invoke_id, msg.managed_object, msg.event_time)
    assert result[:2] == b"\xe1\x00"
    assert result[4:6] == b"\x00\x02"  # RORS
    assert result[8:10] == b"\x12\x34"  # same invoke id
    assert result[10:12] == b"\x00\x01"  # CMD_CONFIRMED_EVENT_REPORT
    assert result[12:14] == struct.pack(">H", len(result) - 14)
    assert result[14:20] == b"\x00\x21\x00\x00\x00\x00"  # NOM_MOC_VMS_MDS, context 0, handle 0
    assert result[-4:] == b"\x0d\x06\x00\x00"  # NOM_NOTI_MDS_CREAT, no info
    assert iv.parse_message(result).kind == "event_result"


def test_extended_poll_request_layout() -> None:
    req = iv.extended_poll_request(2, invoke_id=5, poll_number=9, period_s=2.0)
    # offsets as PERSEUS classifies messages: action type at 20 in an ROIV action
    assert req[4:6] == b"\x00\x01" and req[10:12] == b"\x00\x07"
    assert req[14:20] == b"\x00\x21\x00\x00\x00\x00"  # the MDS object
    assert req[20:24] == b"\x00\x00\x00\x00"  # scope
    assert req[24:26] == b"\xf1\x3b"  # NOM_ACT_POLL_MDIB_DATA_EXT
    msg = iv.parse_message(req)
    assert msg.kind == "poll_request" and msg.request is not None
    assert msg.request == iv.PollRequest(iv.NOM_ACT_POLL_MDIB_DATA_EXT, 9, 6, 0, 2.0)
    keep = iv.parse_message(iv.keepalive_request(2, 6, 10)).request
    assert keep == iv.PollRequest(iv.NOM_ACT_POLL_MDIB_DATA, 10, 54, 2065, None)


def _reply(observations, **kw) -> bytes:
    return iv.poll_reply(2, 1, 1, observations, **kw)


def _decode(*user_data: bytes, now: float | None = None, **options) -> list[Reading]:
    d = iv.IntelliVueDecoder("mp", options)
    return d.feed(b"".join(encode_frame(u) for u in user_data), now)


def test_poll_reply_to_readings() -> None:
    obs = [
        iv.nibp_observation(1, 121, 79, 93, time=T0 - 120),
        iv.numeric_observation(2, "spo2", 96),
        iv.numeric_observation(3, "pulse", 74),
        iv.numeric_observation(4, "pi", 1.35),
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
    obs = [iv.nibp_observation(1, 121, 79, 93, time=T0), iv.numeric_observation(2, "spo2", 96)]
    got = _decode(_reply(obs))
    assert [(r.signal, r.time) for r in got] == [
        ("sbp", T0),
        ("dbp", T0),
        ("map", T0),
        ("spo2", None),
    ]


def test_reply_absolute_time_used_when_valid() -> None:
    got = _decode(
        _reply([iv.numeric_observation(2, "spo2", 96)], abs_time=iv.encode_abs_time(T0 + 3, 1)),
        now=T0 + 10,
        utc_offset_h=1,
    )
    assert [r.time for r in got] == [T0 + 3]


def test_relative_time_stamp_gives_measurement_time() -> None:
    obs = iv.nibp_observation(1, 110, 70, 85, time=None)
    attrs = dict(obs.attributes)
    attrs[iv.NOM_ATTR_TIME_STAMP_REL] = struct.pack(">I", iv.relative_time(100.0))
    got = _decode(_reply([iv.Observation(1, attrs)], rel_time=iv.relative_time(160.0)), now=T0)
    assert [r.time for r in got] == [T0 - 60] * 3


def test_relative_time_stamp_wraps() -> None:
    obs = iv.numeric_observation(2, "spo2", 96)
    attrs = dict(obs.attributes)
    attrs[iv.NOM_ATTR_TIME_STAMP_REL] = struct.pack(">I", 0xFFFFFFFF - 7999)  # 1 s before wrap
    got = _decode(_reply([iv.Observation(2, attrs)], rel_time=8000), now=T0)
    assert got[0].time == pytest.approx(T0 - 2.0)


def test_nan_and_special_values_give_no_reading() -> None:
    obs = [
        iv.nibp_observation(1, None, None, None),
        iv.numeric_observation(2, "spo2", None),
        iv.numeric_observation(3, "pulse", float("inf")),
        iv.numeric_observation(4, "pi", 2.0),
    ]
    d = iv.IntelliVueDecoder("mp", {})
    got = d.feed(encode_frame(_reply(obs)), T0)
    assert [r.signal for r in got] == ["pi"]
    assert not d.rejected


def test_measurement_state_bits_to_flags() -> None:
    obs = [
        iv.numeric_observation(2, "spo2", 88, state=iv.MS_INVALID),
        iv.numeric_observation(3, "pulse", 130, state=iv.MS_QUESTIONABLE | iv.MS_IN_ALARM),
        iv.numeric_observation(4, "pi", 0.2, state=iv.MS_CALIBRATION_ONGOING),
        iv.nibp_observation(1, 90, 60, 70, state=iv.MS_MSMT_ONGOING, time=T0),
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
        iv.numeric_observation(2, "spo2", 97, state=iv.MS_UNAVAILABLE),
        iv.numeric_observation(3, "pulse", 70, state=iv.MS_DEMO_DATA),
        iv.numeric_observation(4, "pi", 3, state=iv.MS_TEST_DATA),
    ]
    d = iv.IntelliVueDecoder("mp", {})
    assert d.feed(encode_frame(_reply(obs)), T0) == []
    assert d.skipped["demo_data"] == 2 and not d.rejected
    allowed = _decode(_reply(obs), now=T0, accept_demo_data="true")
    assert [r.signal for r in allowed] == ["pulse", "pi"]


def test_units_kpa_converted_unknown_rejected() -> None:
    obs = [
        iv.nibp_observation(1, 16, 10.6, 12.4, unit=iv.NOM_DIM_KILO_PA, time=T0),
        iv.numeric_observation(2, "spo2", 97, unit=iv.NOM_DIM_BEAT_PER_MIN),
        iv.numeric_observation(4, "pi", 1.5, unit=iv.NOM_DIM_DIMLESS),
    ]
    d = iv.IntelliVueDecoder("mp", {})
    got = {r.signal: r.value for r in d.feed(encode_frame(_reply(obs)), T0)}
    assert got == {"sbp": 120.01, "dbp": 79.507, "map": 93.008, "pi": 1.5}
    assert d.rejected["unit"] == 1


def test_implausible_values_rejected() -> None:
    obs = [iv.numeric_observation(2, "spo2", 140), iv.numeric_observation(3, "pulse", -5)]
    d = iv.IntelliVueDecoder("mp", {})
    assert d.feed(encode_frame(_reply(obs)), T0) == []
    assert d.rejected["range"] == 2


def test_nibp_emitted_once_per_measurement() -> None:
    d = iv.IntelliVueDecoder("mp", {})

    def poll(sbp: float, when: float) -> list[str]:
        obs = [
            iv.nibp_observation(1, sbp, 70, 85, time=when),
            iv.numeric_observation(2, "spo2", 97),
        ]
        return [r.signal for r in d.feed(encode_frame(_reply(obs)), T0)]

    assert poll(120, T0) == ["sbp", "dbp", "map", "spo2"]
    assert poll(120, T0) == ["spo2"]  # same measurement repeated by the monitor
    assert poll(120, T0 + 300) == ["sbp", "dbp", "map", "spo2"]  # new measurement, same values
    assert poll(118, T0 + 300) == ["sbp", "dbp", "map", "spo2"]  # corrected values


def test_first_value_per_signal_wins_and_unknown_physio_ignored() -> None:
    other = iv.Observation(
        9, {iv.NOM_ATTR_NU_VAL_OBS: iv.nu_obs_value(0x4182, 37.0, 6048)}
    )  # a temperature
    obs = [other, iv.numeric_observation(2, "spo2", 97), iv.numeric_observation(5, "spo2", 91)]
    assert [(r.signal, r.value) for r in _decode(_reply(obs), now=T0)] == [("spo2", 97.0)]


def test_linked_and_single_poll_replies_decode() -> None:
    obs = [iv.numeric_observation(2, "spo2", 97)]
    linked = [
        iv.poll_reply(2, 1, 1, obs, linked_state=1, linked_count=1),
        iv.poll_reply(2, 1, 1, [iv.numeric_observation(3, "pulse", 66)], linked_state=3),
    ]
    single = iv.poll_reply(2, 1, 1, obs, extended=False)
    got = _decode(*linked, single, now=T0)
    assert [(r.signal, r.value) for r in got] == [("spo2", 97), ("pulse", 66), ("spo2", 97)]
    assert linked[0][4:6] == b"\x00\x05" and linked[0][22:24] == b"\xf1\x3b"  # PERSEUS offsets


def test_decoder_skips_other_messages_and_counts_malformed() -> None:
    d = iv.IntelliVueDecoder("mp", {})
    stream = b"".join(
        encode_frame(u)
        for u in (
            iv.association_response(),
            iv.mds_create_event(2, 1, 0),
            # host frames too, as in a capture tapping both lines
            iv.association_request(),
            iv.extended_poll_request(2, 1, 1),
            iv.mds_create_result(2, 1, bytes(6), 0),
            b"\xe1\x00\x00\x02\x00\x02\x00\x40\x00",  # RORS claiming 64 bytes, has 1
            _reply([iv.numeric_observation(2, "spo2", 95)]),
        )
    )
    assert [r.value for r in d.feed(stream, T0)] == [95.0]
    assert d.rejected == {"malformed": 1}


@given(st.binary(max_size=400))
def test_parse_message_never_raises_anything_but_malformed(data: bytes) -> None:
    with contextlib.suppress(iv.Malformed):
        iv.parse_message(data)


@given(st.binary(max_size=600), st.integers(1, 64))
def test_decoder_fuzz_then_recovers(noise: bytes, chunk: int) -> None:
    d = iv.IntelliVueDecoder("mp", {})
    good = encode_frame(_reply([iv.numeric_observation(2, "spo2", 95)]))
    # random user data inside valid frames too: exercises the message parser
    stream = noise + encode_frame(noise[:200]) + good
    got = [r for i in range(0, len(stream), chunk) for r in d.feed(stream[i : i + chunk], T0)]
    assert got[-1].signal == "spo2" and got[-1].value == 95.0


@given(st.binary(min_size=1, max_size=120), st.data())
def test_corrupt_fcs_never_yields_a_reading(payload_noise: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(_reply([iv.numeric_observation(2, "spo2", 95)])))
    pos = data.draw(st.integers(1, len(frame) - 2))
    frame[pos] ^= data.draw(st.integers(1, 255))
    d = iv.IntelliVueDecoder("mp", {})
    assert d.feed(bytes(frame), T0) == []


# --- the host session (pure, time given by hand) ----------------------------------
def _frames(data: bytes) -> list[iv.Message]:
    return [iv.parse_message(u) for u in FrameReader().feed(data)]


def _kinds(data: bytes) -> list[str]:
    return [m.kind for m in _frames(data)]


class Bench:
    """A session and a simulated monitor wired back to back, with a hand clock."""

    def __init__(self, **options) -> None:
        self.t = T0
        self.session = iv.IntelliVueSession("mp", options)
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
    s = iv.IntelliVueSession("mp", {"poll_interval_s": 0.2})
    t = T0
    sent: list[float] = []
    s.on_timer(t)  # association request
    s.feed(encode_frame(iv.association_response()), t)
    # a burst: MDS create answered, plus many keep-alives/polls queued at once
    for _ in range(10):
        s._send(iv.keepalive_request(2, 1, 1), t)
    _, out = s.feed(encode_frame(iv.mds_create_event(2, 1, 0)), t)
    sent += [t] * len(_frames(out))
    while t < T0 + 2:
        t += 0.01
        out = s.on_timer(t)
        sent += [t] * len(_frames(out))
    assert len(sent) >= 11
    for i in range(len(sent) - 4):
        assert sent[i + 4] - sent[i] >= iv.FRAME_WINDOW_S - 1e-9, "more than 4 frames in 128 ms"


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
    b.inject(encode_frame(iv.RELEASE_REQUEST))
    assert "release_response" in _kinds(b.to_monitor[-1][1])
    b.monitor.state = "unassociated"
    b.run(2)
    assert b.session.events["associated"] == 2


def test_refuse_then_retry() -> None:
    b = Bench(reassociate_delay_s=0.5)
    b.step()
    b.inject(encode_frame(iv.REFUSE))
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
    s = iv.IntelliVueSession("mp", {"association_timeout_s": 1, "reassociate_delay_s": 1})
    s.on_timer(T0)
    s.feed(encode_frame(iv.association_response()), T0)
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
    s = iv.IntelliVueSession("mp", {})
    assert s.next_timer(T0) == 0.0  # associate now
    s.on_timer(T0)
    assert 4.9 < s.next_timer(T0) <= 5.0  # association timeout


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        iv.IntelliVueSession("mp", {"poll_interval_s": 0})
    with pytest.raises(ValueError, match="silence_s"):
        iv.IntelliVueSession("mp", {"silence_s": "soon"})
    with pytest.raises(ValueError, match="utc_offset_h must be a number"):
        iv.IntelliVueDecoder("mp", {"utc_offset_h": "CET"})
    with pytest.raises(ValueError, match=r"utc_offset_h must be -14\.\.14"):
        iv.IntelliVueSession("mp", {"utc_offset_h": 60})
    with pytest.raises(ValueError, match="keepalive_s must be a finite number"):
        iv.IntelliVueSession("mp", {"keepalive_s": "inf"})
    with pytest.raises(ValueError, match="longer than poll_interval_s or keepalive_s"):
        iv.IntelliVueSession("mp", {"silence_s": 1, "poll_interval_s": 1})


@given(st.lists(st.binary(max_size=200), max_size=8))
def test_session_fuzz_never_raises(chunks: list[bytes]) -> None:
    s = iv.IntelliVueSession("mp", {})
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


class _VitalState:
    """The fields of ``drivers.simulator.VitalState`` the model reads (plain data)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.flags: dict[str, frozenset[str]] = {}
        self.times: dict[str, float] = {}
        self.sensor_off = False


def test_simulator_model_plays_vital_state_and_drops_association() -> None:
    from drivers.intellivue_sim import IntelliVueModel

    model = IntelliVueModel({"abort_every": "10"})
    state = _VitalState()
    state.values.update(spo2=93.0, sbp=101.0, dbp=66.0, map=78.0)
    state.times.update(spo2=T0, sbp=T0 - 60, dbp=T0 - 60, map=T0 - 60)
    state.flags["spo2"] = frozenset({"low_quality"})
    s = iv.IntelliVueSession("mp", {})
    t = T0
    got: list[Reading] = []
    aborts = 0
    while t < T0 + 14:
        out = s.on_timer(t)
        while out:
            frames = model.receive(out, state, t)
            aborts += sum(_kinds(f) == ["abort"] for f in frames)
            readings, out = s.feed(b"".join(frames), t)
            got += readings
        t += 0.1
    assert aborts == 1 and s.events["abort_received"] == 1
    assert {(r.signal, r.value) for r in got} == {
        ("spo2", 93.0),
        ("sbp", 101.0),
        ("dbp", 66.0),
        ("map", 78.0),
    }
    assert all(r.flags == {"low_quality"} for r in got if r.signal == "spo2")
    assert [r.time for r in got if r.signal == "sbp"] == [T0 - 60]  # once, measurement time
    state.sensor_off = True
    frames = model.receive(encode_frame(iv.extended_poll_request(2, 99, 99)), state, t)
    assert len(frames) == 1 and _kinds(frames[0]) == ["poll_reply"]
    assert iv.IntelliVueDecoder("mp", {}).feed(b"".join(frames), t) == []  # all NaN
    assert model.bad_checksum(frames[0]) != frames[0]


def test_session_stamps_readings_with_clock_time_and_times_with_now() -> None:
    s = iv.IntelliVueSession("mp", {})
    s.on_timer(100.0)  # monotonic seconds
    s.feed(encode_frame(iv.association_response()), 100.1)
    s.feed(encode_frame(iv.mds_create_event(2, 1, 0)), 100.2)
    assert _kinds(s.on_timer(100.3)) == ["poll_request"]
    readings, _ = s.feed(
        encode_frame(_reply([iv.numeric_observation(2, "spo2", 95)])), 100.4, stamp=T0
    )
    assert [(r.signal, r.time) for r in readings] == [("spo2", T0)]
    assert s.next_timer(100.4) == pytest.approx(0.8)  # next poll due at 101.2 (monotonic)


def test_poll_reply_offsets_as_the_third_client_reads_them() -> None:
    # It reads a linked (ROLRS) extended poll reply at fixed offsets: the poll
    # info list count at 48, the first context's object count at 54, the first
    # object's attribute count at 60, the first attribute at 64 with
    # NuObsValue physio id at +4, state at +6 and FLOAT at +10.
    obs = [iv.numeric_observation(2, "spo2", 97)]
    reply = iv.poll_reply(2, 1, 1, obs, linked_state=1, linked_count=1)
    assert reply[4:6] == b"\x00\x05"
    assert reply[48:50] == b"\x00\x01"
    assert reply[54:56] == b"\x00\x01"
    attrs = dict(obs[0].attributes)
    assert reply[60:62] == struct.pack(">H", len(attrs))
    first = 64
    assert reply[first : first + 2] == struct.pack(">H", next(iter(attrs)))
    at = reply.index(struct.pack(">HH", iv.NOM_ATTR_NU_VAL_OBS, 10))
    assert reply[at + 4 : at + 6] == struct.pack(">H", iv.NOM_PULS_OXIM_SAT_O2)
    assert reply[at + 6 : at + 8] == b"\x00\x00"
    assert iv.decode_float(int.from_bytes(reply[at + 10 : at + 14], "big")) == 97.0


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
    assert all(times[i + 4] - times[i] >= iv.FRAME_WINDOW_S - 1e-9 for i in range(len(times) - 4))
    spo2 = [r.time for r in b.readings if r.signal == "spo2"]
    assert len(spo2) > 3000  # of 3600 polls, minus the outages
