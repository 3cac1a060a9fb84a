"""IntelliVue messages: association control and data export, checked against the layouts
of PERSEUS and mindleaving and the bytes of a third open client."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import given
from hypothesis import strategies as st

from drivers.intellivue.codec import Malformed, decode_float
from drivers.intellivue.messages import (
    ABORT,
    ASSOC_REQ_PRESENTATION,
    REFUSE,
    RELEASE_REQUEST,
    RELEASE_RESPONSE,
    PollRequest,
    association_request,
    association_response,
    extended_poll_request,
    keepalive_request,
    mds_create_event,
    mds_create_result,
    numeric_observation,
    parse_message,
    parse_min_poll_period,
    poll_reply,
)
from drivers.intellivue.nomenclature import (
    NOM_ACT_POLL_MDIB_DATA,
    NOM_ACT_POLL_MDIB_DATA_EXT,
    NOM_ATTR_NU_VAL_OBS,
    NOM_MOC_VMO_METRIC_NU,
    NOM_PULS_OXIM_SAT_O2,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# --- association and data export messages ---------------------------------------
def test_association_request_layout() -> None:
    req = association_request(1.0)
    # session SPDU CN, LI = rest of message
    assert req[0] == 0x0D and req[1] == len(req) - 2
    assert req[2:16] == bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
    # presentation header C1, LI = rest of message
    assert req[16] == 0xC1 and req[17] == len(req) - 18
    assert req[18 : 18 + len(ASSOC_REQ_PRESENTATION)] == ASSOC_REQ_PRESENTATION
    at = 18 + len(ASSOC_REQ_PRESENTATION)
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
    assert parse_min_poll_period(req) == 1.0  # 8000 ticks of 1/8 ms
    assert parse_message(req).kind == "assoc_request"


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
    assert association_request(min_poll_period_s=2500 / 8000) == THIRD_CLIENT_ASSOC_REQ
    event = parse_message(mds_create_event(2, 1, 0x00484700))
    result = mds_create_result(2, event.invoke_id, event.managed_object, event.event_time)
    assert result == THIRD_CLIENT_EVENT_RESULT
    assert extended_poll_request(2, 1, 1, attr_group=0x0803) == THIRD_CLIENT_EXT_POLL
    assert parse_message(THIRD_CLIENT_EXT_POLL).request == PollRequest(
        NOM_ACT_POLL_MDIB_DATA_EXT, 1, NOM_MOC_VMO_METRIC_NU, 0x0803, None
    )


def test_fixed_association_control_messages() -> None:
    assert parse_message(ABORT).kind == "abort"
    assert parse_message(RELEASE_REQUEST).kind == "release_request"
    assert parse_message(RELEASE_RESPONSE).kind == "release_response"
    assert parse_message(REFUSE).kind == "refuse"
    assert parse_message(association_response(2.0)).kind == "assoc_accept"
    # length indicators cover the rest of each message
    for msg in (ABORT, RELEASE_REQUEST, RELEASE_RESPONSE, REFUSE):
        assert msg[1] == len(msg) - 2


def test_mds_create_event_and_result() -> None:
    event = mds_create_event(context=7, invoke_id=0x1234, rel_time=99)
    msg = parse_message(event)
    assert (msg.kind, msg.context, msg.invoke_id, msg.event_time) == ("mds_create", 7, 0x1234, 99)
    result = mds_create_result(msg.context, msg.invoke_id, msg.managed_object, msg.event_time)
    assert result[:2] == b"\xe1\x00"
    assert result[4:6] == b"\x00\x02"  # RORS
    assert result[8:10] == b"\x12\x34"  # same invoke id
    assert result[10:12] == b"\x00\x01"  # CMD_CONFIRMED_EVENT_REPORT
    assert result[12:14] == struct.pack(">H", len(result) - 14)
    assert result[14:20] == b"\x00\x21\x00\x00\x00\x00"  # NOM_MOC_VMS_MDS, context 0, handle 0
    assert result[-4:] == b"\x0d\x06\x00\x00"  # NOM_NOTI_MDS_CREAT, no info
    assert parse_message(result).kind == "event_result"


def test_extended_poll_request_layout() -> None:
    req = extended_poll_request(2, invoke_id=5, poll_number=9, period_s=2.0)
    # offsets as PERSEUS classifies messages: action type at 20 in an ROIV action
    assert req[4:6] == b"\x00\x01" and req[10:12] == b"\x00\x07"
    assert req[14:20] == b"\x00\x21\x00\x00\x00\x00"  # the MDS object
    assert req[20:24] == b"\x00\x00\x00\x00"  # scope
    assert req[24:26] == b"\xf1\x3b"  # NOM_ACT_POLL_MDIB_DATA_EXT
    msg = parse_message(req)
    assert msg.kind == "poll_request" and msg.request is not None
    assert msg.request == PollRequest(NOM_ACT_POLL_MDIB_DATA_EXT, 9, 6, 0, 2.0)
    keep = parse_message(keepalive_request(2, 6, 10)).request
    assert keep == PollRequest(NOM_ACT_POLL_MDIB_DATA, 10, 54, 2065, None)


@given(st.binary(max_size=400))
def test_parse_message_never_raises_anything_but_malformed(data: bytes) -> None:
    with contextlib.suppress(Malformed):
        parse_message(data)


def test_poll_reply_offsets_as_the_third_client_reads_them() -> None:
    # It reads a linked (ROLRS) extended poll reply at fixed offsets: the poll
    # info list count at 48, the first context's object count at 54, the first
    # object's attribute count at 60, the first attribute at 64 with
    # NuObsValue physio id at +4, state at +6 and FLOAT at +10.
    obs = [numeric_observation(2, "spo2", 97)]
    reply = poll_reply(2, 1, 1, obs, linked_state=1, linked_count=1)
    assert reply[4:6] == b"\x00\x05"
    assert reply[48:50] == b"\x00\x01"
    assert reply[54:56] == b"\x00\x01"
    attrs = dict(obs[0].attributes)
    assert reply[60:62] == struct.pack(">H", len(attrs))
    first = 64
    assert reply[first : first + 2] == struct.pack(">H", next(iter(attrs)))
    at = reply.index(struct.pack(">HH", NOM_ATTR_NU_VAL_OBS, 10))
    assert reply[at + 4 : at + 6] == struct.pack(">H", NOM_PULS_OXIM_SAT_O2)
    assert reply[at + 6 : at + 8] == b"\x00\x00"
    assert decode_float(int.from_bytes(reply[at + 10 : at + 14], "big")) == 97.0
