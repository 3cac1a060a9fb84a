"""IntelliVue RS232 framing: FCS, transparency, incremental reader.

No FCS or escaping vector from the Philips guide itself was found in public
sources. The vectors here are: the CRC-16/X.25 standard check value
("123456789" -> 0x906E, the same algorithm as RFC 1171/1662 PPP FCS), the
RFC 1662 "good FCS" residual 0xF0B8, and frames computed by hand from the
layout (header 11 01 len, FCS low byte first, 7D escaping).
"""

from __future__ import annotations

import doctest

from hypothesis import given
from hypothesis import strategies as st

from drivers.intellivue import framing
from drivers.intellivue.framing import (
    GOOD_FCS,
    FrameReader,
    crc_ccitt,
    encode_frame,
    escape,
    fcs16,
    unescape,
)


def test_doctests() -> None:
    assert doctest.testmod(framing).failed == 0


def test_fcs_check_value_and_good_residual() -> None:
    assert fcs16(b"123456789") == 0x906E  # CRC-16/X.25 check value
    assert fcs16(b"") == 0x0000
    data = b"\x11\x01\x00\x00"
    fcs = fcs16(data)
    assert crc_ccitt(data + fcs.to_bytes(2, "little")) == GOOD_FCS


def test_table_is_the_rfc1662_table() -> None:
    # first entries of the RFC 1662 fcstab (and of the tables in PERSEUS/mindleaving)
    assert framing.FCS_TABLE[:8] == (
        0x0000,
        0x1189,
        0x2312,
        0x329B,
        0x4624,
        0x57AD,
        0x6536,
        0x74BF,
    )
    assert framing.FCS_TABLE[255] == 0x0F78


def test_hand_computed_frame() -> None:
    # user data "01 02": header 11 01 00 02, FCS over 11 01 00 02 01 02
    fcs = fcs16(bytes.fromhex("11 01 00 02 01 02"))
    expected = bytes.fromhex("c0 11 01 00 02 01 02") + fcs.to_bytes(2, "little") + b"\xc1"
    assert encode_frame(b"\x01\x02") == expected
    assert FrameReader().feed(expected) == [b"\x01\x02"]


def test_escaping_vectors() -> None:
    assert escape(bytes.fromhex("c0 c1 7d 00 20 e0")) == bytes.fromhex("7d e0 7d e1 7d 5d 00 20 e0")
    assert unescape(bytes.fromhex("7d e0 7d e1 7d 5d 00")) == bytes.fromhex("c0 c1 7d 00")
    frame = encode_frame(bytes.fromhex("c0 7d c1"))
    assert frame[0] == 0xC0 and frame[-1] == 0xC1
    assert 0xC0 not in frame[1:-1] and 0xC1 not in frame[1:-1]
    assert FrameReader().feed(frame) == [bytes.fromhex("c0 7d c1")]


def test_escaped_fcs_bytes() -> None:
    # find user data whose FCS contains a byte needing escape, check it round-trips
    for i in range(5000):
        payload = i.to_bytes(2, "big")
        fcs = fcs16(b"\x11\x01\x00\x02" + payload).to_bytes(2, "little")
        if any(b in (0xC0, 0xC1, 0x7D) for b in fcs):
            break
    else:
        raise AssertionError("no FCS with an escaped byte in range")
    frame = encode_frame(payload)
    assert b"\x7d" in frame[-4:-1]
    assert FrameReader().feed(frame) == [payload]


@given(st.binary(max_size=300))
def test_escape_round_trip(data: bytes) -> None:
    escaped = escape(data)
    assert 0xC0 not in escaped and 0xC1 not in escaped
    assert unescape(escaped) == data


@given(st.lists(st.binary(max_size=200), max_size=5), st.integers(1, 40))
def test_frames_round_trip_in_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    reader = FrameReader()
    got = [f for i in range(0, len(stream), chunk) for f in reader.feed(stream[i : i + chunk])]
    assert got == payloads
    assert not reader.rejected


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_and_recover_within_one_frame(noise: bytes) -> None:
    reader = FrameReader()
    reader.feed(noise)
    good = encode_frame(b"\x01\x02\x03")
    assert reader.feed(good) == [b"\x01\x02\x03"]


@given(st.binary(min_size=1, max_size=200), st.data())
def test_corrupted_frame_never_decodes(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(payload))
    # flip one bit somewhere between BOF and EOF (not creating new delimiters)
    pos = data.draw(st.integers(1, len(frame) - 2))
    bit = data.draw(st.integers(0, 7))
    frame[pos] ^= 1 << bit
    reader = FrameReader()
    got = reader.feed(bytes(frame))
    assert got == [], "a corrupted frame decoded"
    assert sum(reader.rejected.values()) >= 1
    assert reader.feed(encode_frame(b"ok")) == [b"ok"]


def test_corrupt_fcs_flag_is_rejected_as_checksum() -> None:
    reader = FrameReader()
    assert reader.feed(encode_frame(b"\x01\x02", corrupt_fcs=True)) == []
    assert reader.rejected["checksum"] == 1


def test_wrong_header_length_and_truncation_counted() -> None:
    reader = FrameReader()
    body = b"\x12\x01\x00\x01\x05"  # wrong protocol id, valid FCS
    bad_header = b"\xc0" + escape(body + fcs16(body).to_bytes(2, "little")) + b"\xc1"
    body = b"\x11\x01\x00\x05\x05"  # says 5 bytes, has 1
    bad_length = b"\xc0" + escape(body + fcs16(body).to_bytes(2, "little")) + b"\xc1"
    truncated = encode_frame(b"abc")[:-3]
    assert reader.feed(bad_header + bad_length + truncated + encode_frame(b"x")) == [b"x"]
    assert reader.rejected == {"header": 1, "length": 1, "truncated": 1}


def test_overlong_frame_is_dropped_with_bounded_memory() -> None:
    reader = FrameReader(max_frame=100)
    assert reader.feed(b"\xc0" + b"\x00" * 10_000 + b"\xc1" + encode_frame(b"ok")) == [b"ok"]
    assert reader.rejected["overlong"] == 1
    assert len(reader._body) == 0


@given(st.binary(max_size=100))
def test_corrupt_fcs_spoils_exactly_the_checksum(payload: bytes) -> None:
    from drivers.intellivue.framing import corrupt_fcs

    bad = corrupt_fcs(encode_frame(payload))
    assert bad is not None
    reader = FrameReader()
    assert reader.feed(bad) == []
    assert reader.rejected == {"checksum": 1}
    assert corrupt_fcs(b"\x01\x02") is None
