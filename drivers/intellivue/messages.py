"""IntelliVue messages: association control and data export, built and parsed.

The user data inside one frame (:mod:`drivers.intellivue.framing`): the host's
association request, poll requests, keep-alive and MDS create result; the
monitor's association response, MDS Create Event Report and poll replies (the
monitor side is built too, for the simulator and the tests). Layouts and the
sources they were checked against are in :mod:`drivers.intellivue`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from drivers.intellivue.codec import (
    ABS_TIME_INVALID,
    Malformed,
    Reader,
    asn_length,
    attribute_list,
    encode_abs_time,
    encode_float,
    length_indicator,
    read_attribute_list,
    relative_time,
    u16,
    u32,
)
from drivers.intellivue.nomenclature import (
    CMD_CONFIRMED_ACTION,
    CMD_CONFIRMED_EVENT_REPORT,
    CMD_EVENT_REPORT,
    DEFAULT_CONTEXT,
    DEFAULT_UNIT,
    NOM_ACT_POLL_MDIB_DATA,
    NOM_ACT_POLL_MDIB_DATA_EXT,
    NOM_ATTR_GRP_VMO_STATIC,
    NOM_ATTR_ID_TYPE,
    NOM_ATTR_NU_CMPD_VAL_OBS,
    NOM_ATTR_NU_VAL_OBS,
    NOM_ATTR_POLL_PROFILE_EXT,
    NOM_ATTR_TIME_PD_POLL,
    NOM_ATTR_TIME_STAMP_ABS,
    NOM_ATTR_VMS_MDS_STAT,
    NOM_DIM_MMHG,
    NOM_MOC_VMO_AL_MON,
    NOM_MOC_VMO_METRIC_NU,
    NOM_MOC_VMS_MDS,
    NOM_NOTI_MDS_CREAT,
    NOM_PART_OBJ,
    NOM_PART_SCADA,
    NOM_POLL_PROFILE_SUPPORT,
    NOM_PRESS_BLD_NONINV,
    NOM_PRESS_BLD_NONINV_DIA,
    NOM_PRESS_BLD_NONINV_MEAN,
    NOM_PRESS_BLD_NONINV_SYS,
    ROER,
    ROIV,
    ROLRS,
    RORS,
    SESSION_ID,
    SIGNAL_PHYSIO,
    SPDU_AB,
    SPDU_AC,
    SPDU_CN,
    SPDU_DN,
    SPDU_FN,
    SPDU_RF,
)

# --- association control --------------------------------------------------------
ASSOC_SESSION_DATA = bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
ASSOC_REQ_PRESENTATION = bytes.fromhex(
    "31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01 01 06 04 52 01 00 01"
    " 30 80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0c 2a 86 48 ce 14 02 01 00 00 00 01 01"
    " 30 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01"
    " a0 80 60 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 be 80 28 80 06 0c 2a"
    " 86 48 ce 14 02 01 00 00 00 01 01 02 01 02 81"
)
ASSOC_RESP_PRESENTATION = bytes.fromhex(
    "31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a5 80 30 80 80 01 00 81 02 51 01 00 00"
    " 30 80 80 01 00 81 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01"
    " 01 a0 80 61 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 a2 03 02 01 00 a3"
    " 05 a1 03 02 01 00 be 80 28 80 02 01 02 81"
)
_USER_INFO_MARKER = bytes.fromhex("02 01 02 81")
RELEASE_REQUEST = bytes.fromhex(
    "09 18 c1 16 61 80 30 80 02 01 01 a0 80 62 80 80 01 00 00 00 00 00 00 00 00 00"
)
RELEASE_RESPONSE = bytes.fromhex(
    "0a 18 c1 16 61 80 30 80 02 01 01 a0 80 63 80 80 01 00 00 00 00 00 00 00 00 00"
)
ABORT = bytes.fromhex(
    "19 2e 11 01 03 c1 29 a0 80 a0 80 30 80 02 01 01 06 02 51 01 00 00 00 00 61 80 30 80"
    " 02 01 01 a0 80 64 80 80 01 01 00 00 00 00 00 00 00 00 00 00"
)
REFUSE = bytes.fromhex("0c 03 32 01 00")

SYST_CLIENT = 0x80000000
SYST_SERVER = 0x00800000
STARTUP_COLD = 0x20000000
POLL_EXT_PERIOD_NU_1SEC = 0x80000000
P_OPT_DYN_CREATE_AND_DELETE = 0x60000000


def user_info(
    system_type: int,
    min_poll_period_s: float = 1.0,
    mtu_rx: int = 2500,
    mtu_tx: int = 1000,
    ext_options: int = 0,
) -> bytes:
    """``MDSEUserInfoStd`` with a poll profile (and its extension).

    MTUs as mindleaving and a third C# client send them: receive 2500, transmit
    1000 (the RS232 maximum).
    """
    ext = u32(ext_options or POLL_EXT_PERIOD_NU_1SEC) + attribute_list(())
    profile = (
        u32(0x80000000)  # POLL_PROFILE_REV_0
        + u32(relative_time(min_poll_period_s))
        + u32(mtu_rx)
        + u32(mtu_tx)
        + u32(0xFFFFFFFF)  # max_bw_tx: no estimation possible
        + u32(P_OPT_DYN_CREATE_AND_DELETE)
        + attribute_list([(NOM_ATTR_POLL_PROFILE_EXT, ext)])
    )
    return (
        u32(0x80000000)  # MDDL_VERSION1
        + u32(0x40000000)  # NOMEN_VERSION
        + u32(0)  # functional units
        + u32(system_type)
        + u32(STARTUP_COLD)
        + attribute_list(())  # option list
        + attribute_list([(NOM_POLL_PROFILE_SUPPORT, profile)])
    )


def _association(spdu: int, presentation: bytes, info: bytes) -> bytes:
    body = presentation + asn_length(len(info)) + info + bytes(16)
    pres = b"\xc1" + length_indicator(len(body)) + body
    session = ASSOC_SESSION_DATA + pres
    return bytes((spdu,)) + length_indicator(len(session)) + session


def association_request(min_poll_period_s: float = 1.0) -> bytes:
    """The association request user data (host -> monitor)."""
    return _association(SPDU_CN, ASSOC_REQ_PRESENTATION, user_info(SYST_CLIENT, min_poll_period_s))


def association_response(min_poll_period_s: float = 1.0) -> bytes:
    """The association response user data (monitor -> host; used by the simulator)."""
    return _association(SPDU_AC, ASSOC_RESP_PRESENTATION, user_info(SYST_SERVER, min_poll_period_s))


def parse_min_poll_period(accept: bytes) -> float | None:
    """The monitor's minimum poll period (s) from an association response, if present."""
    at = accept.find(_USER_INFO_MARKER)
    if at < 0:
        return None
    try:
        r = Reader(accept, at + len(_USER_INFO_MARKER))
        n = r.u8()
        if n == 0x81:
            n = r.u8()
        elif n == 0x82:
            n = r.u16()
        info = r.sub(n)
        info.take(20)
        read_attribute_list(info)
        profiles = read_attribute_list(info)
        profile = profiles.get(NOM_POLL_PROFILE_SUPPORT)
        if profile is None or len(profile) < 8:
            return None
        return int.from_bytes(profile[4:8], "big") / 8000.0
    except Malformed:
        return None


# --- data export messages -------------------------------------------------------
def _data_export(context: int, ro_type: int, apdu: bytes) -> bytes:
    return u16(SESSION_ID) + u16(context) + u16(ro_type) + u16(len(apdu)) + apdu


def _mds_object() -> bytes:
    return u16(NOM_MOC_VMS_MDS) + u16(0) + u16(0)


def _action(context: int, invoke_id: int, action_type: int, arg: bytes) -> bytes:
    action = _mds_object() + u32(0) + u16(action_type) + u16(len(arg)) + arg
    roiv = u16(invoke_id) + u16(CMD_CONFIRMED_ACTION) + u16(len(action)) + action
    return _data_export(context, ROIV, roiv)


def extended_poll_request(
    context: int,
    invoke_id: int,
    poll_number: int,
    object_code: int = NOM_MOC_VMO_METRIC_NU,
    attr_group: int = 0,
    period_s: float | None = None,
) -> bytes:
    """``NOM_ACT_POLL_MDIB_DATA_EXT`` for all numerics (optionally time-periodic)."""
    ext = [] if period_s is None else [(NOM_ATTR_TIME_PD_POLL, u32(relative_time(period_s)))]
    arg = (
        u16(poll_number) + u16(NOM_PART_OBJ) + u16(object_code) + u16(attr_group)
    ) + attribute_list(ext)
    return _action(context, invoke_id, NOM_ACT_POLL_MDIB_DATA_EXT, arg)


def keepalive_request(context: int, invoke_id: int, poll_number: int) -> bytes:
    """Single poll of the alert monitor's static attributes: the cheapest request."""
    arg = (
        u16(poll_number)
        + u16(NOM_PART_OBJ)
        + u16(NOM_MOC_VMO_AL_MON)
        + u16(NOM_ATTR_GRP_VMO_STATIC)
    )
    return _action(context, invoke_id, NOM_ACT_POLL_MDIB_DATA, arg)


def mds_create_result(context: int, invoke_id: int, managed_object: bytes, time: int) -> bytes:
    """The answer the monitor requires to its MDS Create Event Report."""
    result = managed_object + u32(time) + u16(NOM_NOTI_MDS_CREAT) + u16(0)
    rors = u16(invoke_id) + u16(CMD_CONFIRMED_EVENT_REPORT) + u16(len(result)) + result
    return _data_export(context, RORS, rors)


def mds_create_event(context: int, invoke_id: int, rel_time: int) -> bytes:
    """The monitor's MDS Create Event Report (used by the simulator)."""
    info = _mds_object() + attribute_list(
        [
            (NOM_ATTR_ID_TYPE, u16(NOM_PART_OBJ) + u16(NOM_MOC_VMS_MDS)),
            (NOM_ATTR_VMS_MDS_STAT, u16(6)),  # OPERATING
        ]
    )
    arg = _mds_object() + u32(rel_time) + u16(NOM_NOTI_MDS_CREAT) + u16(len(info)) + info
    roiv = u16(invoke_id) + u16(CMD_CONFIRMED_EVENT_REPORT) + u16(len(arg)) + arg
    return _data_export(context, ROIV, roiv)


def nu_obs_value(physio: int, value: float | None, unit: int, state: int = 0) -> bytes:
    """One ``NuObsValue``: physio id, state, unit, FLOAT-Type."""
    return u16(physio) + u16(state) + u16(unit) + u32(encode_float(value))


@dataclass(frozen=True, slots=True)
class Observation:
    """One polled object: its handle and its attributes (id -> raw value)."""

    handle: int
    attributes: Mapping[int, bytes]


def numeric_observation(
    handle: int,
    signal: str,
    value: float | None,
    *,
    state: int = 0,
    unit: int | None = None,
    time: float | None = None,
    utc_offset_h: float = 0.0,
) -> Observation:
    """A numeric object with one value (SpO2, pulse, PI)."""
    physio = SIGNAL_PHYSIO[signal]
    attrs = {
        NOM_ATTR_ID_TYPE: u16(NOM_PART_SCADA) + u16(physio),
        NOM_ATTR_NU_VAL_OBS: nu_obs_value(physio, value, unit or DEFAULT_UNIT[signal], state),
    }
    if time is not None:
        attrs[NOM_ATTR_TIME_STAMP_ABS] = encode_abs_time(time, utc_offset_h)
    return Observation(handle, attrs)


def nibp_observation(
    handle: int,
    sbp: float | None,
    dbp: float | None,
    mean: float | None,
    *,
    state: int = 0,
    unit: int = NOM_DIM_MMHG,
    time: float | None = None,
    utc_offset_h: float = 0.0,
) -> Observation:
    """The NIBP compound numeric (sys, dia, mean) with its measurement time."""
    values = (
        nu_obs_value(NOM_PRESS_BLD_NONINV_SYS, sbp, unit, state)
        + nu_obs_value(NOM_PRESS_BLD_NONINV_DIA, dbp, unit, state)
        + nu_obs_value(NOM_PRESS_BLD_NONINV_MEAN, mean, unit, state)
    )
    attrs = {
        NOM_ATTR_ID_TYPE: u16(NOM_PART_SCADA) + u16(NOM_PRESS_BLD_NONINV),
        NOM_ATTR_NU_CMPD_VAL_OBS: u16(3) + u16(len(values)) + values,
        NOM_ATTR_TIME_STAMP_ABS: encode_abs_time(time, utc_offset_h),
    }
    return Observation(handle, attrs)


def poll_reply(
    context: int,
    invoke_id: int,
    poll_number: int,
    observations: Sequence[Observation],
    *,
    rel_time: int = 0,
    abs_time: bytes = ABS_TIME_INVALID,
    sequence: int = 0,
    object_code: int = NOM_MOC_VMO_METRIC_NU,
    attr_group: int = 0,
    extended: bool = True,
    linked_state: int | None = None,
    linked_count: int = 0,
) -> bytes:
    """A (linked) extended or single poll reply carrying ``observations`` (simulator side)."""
    polls = b"".join(u16(o.handle) + attribute_list(o.attributes.items()) for o in observations)
    context_poll = u16(0) + u16(len(observations)) + u16(len(polls)) + polls
    info_list = u16(1) + u16(len(context_poll)) + context_poll
    reply = (
        u16(poll_number)
        + (u16(sequence) if extended else b"")
        + u32(rel_time)
        + abs_time
        + u16(NOM_PART_OBJ)
        + u16(object_code)
        + u16(attr_group)
        + info_list
    )
    action = NOM_ACT_POLL_MDIB_DATA_EXT if extended else NOM_ACT_POLL_MDIB_DATA
    result = _mds_object() + u16(action) + u16(len(reply)) + reply
    rors = u16(invoke_id) + u16(CMD_CONFIRMED_ACTION) + u16(len(result)) + result
    if linked_state is None:
        return _data_export(context, RORS, rors)
    return _data_export(context, ROLRS, bytes((linked_state, linked_count & 0xFF)) + rors)


# --- parsing --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PollReply:
    poll_number: int
    rel_time: int
    abs_time: bytes
    object_code: int
    observations: tuple[Observation, ...]


@dataclass(frozen=True, slots=True)
class PollRequest:
    action: int
    poll_number: int
    object_code: int
    attr_group: int
    period_s: float | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed user-data message.

    ``kind``: ``assoc_request``, ``assoc_accept``, ``refuse``,
    ``release_request``, ``release_response``, ``abort``, ``mds_create``,
    ``event_result``, ``poll_request``, ``poll_reply``, ``error`` or ``other``.
    """

    kind: str
    context: int = DEFAULT_CONTEXT
    invoke_id: int = 0
    reply: PollReply | None = None
    request: PollRequest | None = None
    managed_object: bytes = b""
    event_time: int = 0
    raw: bytes = field(default=b"", repr=False)


_SPDU_KINDS = {
    SPDU_CN: "assoc_request",
    SPDU_AC: "assoc_accept",
    SPDU_RF: "refuse",
    SPDU_FN: "release_request",
    SPDU_DN: "release_response",
    SPDU_AB: "abort",
}


def parse_message(user_data: bytes) -> Message:
    """Classify and parse one frame's user data. Raises :class:`Malformed`."""
    if not user_data:
        raise Malformed("empty user data")
    kind = _SPDU_KINDS.get(user_data[0])
    if kind is not None:
        return Message(kind, raw=user_data)
    r = Reader(user_data)
    if r.u16() != SESSION_ID:
        raise Malformed("unknown session id")
    context = r.u16()
    ro_type = r.u16()
    r = r.sub(r.u16())
    if ro_type == ROIV:
        invoke, command = r.u16(), r.u16()
        body = r.sub(r.u16())
        if command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
            managed_object = body.take(6)
            event_time, event_type = body.u32(), body.u16()
            if event_type == NOM_NOTI_MDS_CREAT:
                return Message(
                    "mds_create",
                    context,
                    invoke,
                    managed_object=managed_object,
                    event_time=event_time,
                )
        elif command == CMD_CONFIRMED_ACTION:
            body.take(6 + 4)  # managed object, scope
            action = body.u16()
            arg = body.sub(body.u16())
            if action in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
                poll_number = arg.u16()
                arg.u16()  # partition
                object_code, group = arg.u16(), arg.u16()
                period = None
                if action == NOM_ACT_POLL_MDIB_DATA_EXT and arg.pos < arg.end:
                    ext = read_attribute_list(arg)
                    if NOM_ATTR_TIME_PD_POLL in ext and len(ext[NOM_ATTR_TIME_PD_POLL]) == 4:
                        period = int.from_bytes(ext[NOM_ATTR_TIME_PD_POLL], "big") / 8000.0
                request = PollRequest(action, poll_number, object_code, group, period)
                return Message("poll_request", context, invoke, request=request)
        return Message("other", context, invoke)
    if ro_type in (RORS, ROLRS):
        if ro_type == ROLRS:
            r.take(2)  # linked id: state, count
        invoke, command = r.u16(), r.u16()
        body = r.sub(r.u16())
        if command == CMD_CONFIRMED_ACTION:
            body.take(6)
            action = body.u16()
            reply = body.sub(body.u16())
            if action in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
                return Message(
                    "poll_reply",
                    context,
                    invoke,
                    reply=_parse_poll_reply(reply, action == NOM_ACT_POLL_MDIB_DATA_EXT),
                )
        elif command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
            return Message("event_result", context, invoke)
        return Message("other", context, invoke)
    if ro_type == ROER:
        return Message("error", context, r.u16())
    raise Malformed(f"unknown remote operation type {ro_type}")


def _parse_poll_reply(r: Reader, extended: bool) -> PollReply:
    poll_number = r.u16()
    if extended:
        r.u16()  # sequence number
    rel_time = r.u32()
    abs_time = r.take(8)
    r.u16()  # partition
    object_code = r.u16()
    r.u16()  # attribute group
    observations: list[Observation] = []
    contexts, length = r.u16(), r.u16()
    info = r.sub(length)
    for _ in range(contexts):
        info.u16()  # context id
        count, n = info.u16(), info.u16()
        polls = info.sub(n)
        for _ in range(count):
            handle = polls.u16()
            observations.append(Observation(handle, read_attribute_list(polls)))
    return PollReply(poll_number, rel_time, abs_time, object_code, tuple(observations))


def nu_values(attrs: Mapping[int, bytes]) -> list[tuple[int, int, int, int]]:
    """(physio, state, unit, raw FLOAT) from single and compound numeric attributes."""
    out = []
    single = attrs.get(NOM_ATTR_NU_VAL_OBS)
    if single is not None:
        out.append(struct.unpack(">HHHI", single[:10]) if len(single) >= 10 else None)
    compound = attrs.get(NOM_ATTR_NU_CMPD_VAL_OBS)
    if compound is not None:
        r = Reader(compound)
        count = r.u16()
        sub = r.sub(r.u16())
        for _ in range(count):
            out.append(struct.unpack(">HHHI", sub.take(10)))
    if any(v is None for v in out):
        raise Malformed("short NuObsValue")
    return [v for v in out if v is not None]
