"""Tests of mbedtls_py.wire.records on well-formed datagrams built by hand from RFC 6347:
each record's fields, names and repr, several records per datagram, CIDs, alerts, the
handshake headers (whole, fragmented, truncated, several per record) and records as
values (``to_dict``, frozen, bytes-like input).  Malformed datagrams: ``test_records_malformed.py``."""

from __future__ import annotations

import json

import pytest

from mbedtls_py.wire.constants import DTLS1_0, DTLS1_2, ContentType, HandshakeType, alert_description_name, content_type_name, handshake_type_name, version_name
from mbedtls_py.wire.messages import AlertMessage, HandshakeHeader
from mbedtls_py.wire.records import Record, looks_like_dtls, parse_datagram
from _records import CLIENT_HELLO, client_hello_body, encrypted_alert, handshake, record


def handshake_of(rec: Record) -> HandshakeHeader:
    """``rec.handshake``, which the calling test expects to be there."""
    assert rec.handshake is not None
    return rec.handshake


def test_client_hello_record_fields() -> None:
    """A hand-built ClientHello record parses into every header field."""
    dg = parse_datagram(CLIENT_HELLO)
    assert dg.error is None and dg.trailing == b"" and dg.ok
    assert len(dg.records) == 1
    rec = dg.records[0]
    assert rec.content_type == 22 and rec.type_name == "handshake"
    assert rec.version == 0xFEFD and rec.version_name == "DTLS1.2"
    assert (rec.epoch, rec.seq, rec.length, rec.offset) == (0, 0, 120, 0)
    assert rec.cid is None and rec.alert is None and not rec.encrypted
    assert rec.payload == CLIENT_HELLO[13:]
    assert rec.size == len(CLIENT_HELLO) == rec.end
    hs = rec.handshake
    assert hs == HandshakeHeader(1, 108, 0, 0, 108)
    assert hs.type_name == "client_hello" and not hs.truncated and not hs.is_fragment
    assert rec.handshakes == (hs,)


def test_client_hello_repr_and_helpers() -> None:
    """A ClientHello datagram has the documented repr and is_client_hello/max_epoch/first."""
    dg = parse_datagram(CLIENT_HELLO)
    assert repr(dg.first) == (
        "<Handshake epoch=0 seq=0 len=120 client_hello msg_seq=0 frag=0+108/108>"
    )
    assert repr(dg) == (
        "<Datagram [<Handshake epoch=0 seq=0 len=120 client_hello msg_seq=0 frag=0+108/108>]>"
    )
    assert dg.is_client_hello
    assert dg.max_epoch == 0
    assert dg.first is dg.records[0]
    assert dg.size == len(CLIENT_HELLO) and dg.data == CLIENT_HELLO
    assert looks_like_dtls(CLIENT_HELLO)


def test_client_hello_with_dtls10_record_version() -> None:
    """A ClientHello in a DTLS 1.0 record (as OpenSSL sends it) is still a client hello."""
    dg = parse_datagram(record(22, 0, 0, handshake(1, client_hello_body()), version=DTLS1_0))
    assert dg.first is not None
    assert dg.first.version == 0xFEFF and dg.first.version_name == "DTLS1.0"
    assert dg.is_client_hello
    assert "version" not in repr(dg.first)


def test_encrypted_alert_epoch_1() -> None:
    """An epoch-1 alert with a 16-byte random body is encrypted and has no alert fields."""
    data = encrypted_alert(seq=3, size=16)
    dg = parse_datagram(data)
    rec = dg.first
    assert rec is not None and dg.error is None
    assert rec.type_name == "alert" and rec.epoch == 1 and rec.seq == 3
    assert rec.length == 16 and len(rec.payload) == 16
    assert rec.encrypted and rec.alert is None and rec.handshake is None
    assert repr(rec) == "<Alert epoch=1 seq=3 len=16 encrypted>"
    assert not dg.is_client_hello
    assert dg.max_epoch == 1
    assert looks_like_dtls(data)


def test_documented_reprs() -> None:
    """Records print exactly in the documented style."""
    assert repr(parse_datagram(encrypted_alert(seq=3, size=26)).first) == (
        "<Alert epoch=1 seq=3 len=26 encrypted>"
    )
    assert repr(parse_datagram(record(23, 1, 1, bytes(45))).first) == (
        "<ApplicationData epoch=1 seq=1 len=45 encrypted>"
    )
    assert repr(parse_datagram(record(20, 0, 5, b"\x01")).first) == (
        "<ChangeCipherSpec epoch=0 seq=5 len=1>"
    )


def test_several_records_in_one_datagram() -> None:
    """A ChangeCipherSpec + encrypted Finished + application data datagram gives three records
    with their offsets."""
    ccs = record(20, 0, 5, b"\x01")
    finished = record(22, 1, 0, bytes(40))
    appdata = record(23, 1, 1, bytes(45))
    dg = parse_datagram(ccs + finished + appdata)
    assert dg.error is None
    assert [r.type_name for r in dg.records] == [
        "change_cipher_spec",
        "handshake",
        "application_data",
    ]
    assert [r.offset for r in dg.records] == [0, len(ccs), len(ccs) + len(finished)]
    assert [r.epoch for r in dg.records] == [0, 1, 1]
    assert dg.records[1].handshake is None  # encrypted: no header to read
    assert repr(dg.records[1]) == "<Handshake epoch=1 seq=0 len=40 encrypted>"
    assert dg.max_epoch == 1
    assert dg.first is not None and dg.first.type_name == "change_cipher_spec"
    assert not dg.is_client_hello
    assert repr(dg) == (
        "<Datagram [<ChangeCipherSpec epoch=0 seq=5 len=1>, "
        "<Handshake epoch=1 seq=0 len=40 encrypted>, "
        "<ApplicationData epoch=1 seq=1 len=45 encrypted>]>"
    )


def test_server_flight_records() -> None:
    """A plaintext server flight (HelloVerifyRequest style records) decodes each message type."""
    msgs = [
        (2, 70, 1),  # server_hello
        (11, 300, 2),  # certificate
        (12, 150, 3),  # server_key_exchange
        (14, 0, 4),  # server_hello_done
    ]
    data = b"".join(
        record(22, 0, i, handshake(t, bytes(n), message_seq=ms)) for i, (t, n, ms) in enumerate(msgs)
    )
    dg = parse_datagram(data)
    assert [handshake_of(r).type_name for r in dg.records] == [
        "server_hello",
        "certificate",
        "server_key_exchange",
        "server_hello_done",
    ]
    assert [handshake_of(r).message_seq for r in dg.records] == [1, 2, 3, 4]
    assert repr(dg.records[3]) == (
        "<Handshake epoch=0 seq=3 len=12 server_hello_done msg_seq=4 frag=0+0/0>"
    )
    assert not dg.is_client_hello


def test_cid_record() -> None:
    """A tls12_cid record carries cid_len bytes of connection ID between seq and length."""
    cid = bytes.fromhex("deadbeef")
    data = record(25, 1, 7, bytes(30), cid=cid)
    dg = parse_datagram(data, cid_len=4)
    rec = dg.first
    assert rec is not None and dg.error is None
    assert rec.type_name == "tls12_cid" and rec.cid == cid
    assert (rec.epoch, rec.seq, rec.length) == (1, 7, 30)
    assert rec.header_length == 17 and rec.size == len(data)
    assert repr(rec) == "<TLS12CID epoch=1 seq=7 len=30 cid=deadbeef encrypted>"
    assert rec.to_dict()["cid"] == "deadbeef"
    assert looks_like_dtls(data, cid_len=4)


def test_cid_len_applies_only_to_cid_records() -> None:
    """cid_len changes only type-25 records; other records in the datagram keep 13-byte headers."""
    data = record(25, 1, 1, b"abc", cid=b"\x01\x02") + record(21, 1, 2, bytes(16))
    dg = parse_datagram(data, cid_len=2)
    assert [r.cid for r in dg.records] == [b"\x01\x02", None]
    assert dg.error is None


def test_cid_record_with_wrong_cid_len_does_not_raise() -> None:
    """Parsing a CID record with the wrong cid_len gives garbage fields or an error, never raises."""
    data = record(25, 1, 7, bytes(30), cid=bytes(4))
    dg = parse_datagram(data, cid_len=0)
    assert dg.error is not None or (dg.first is not None and dg.first.cid == b"")
    empty_cid = parse_datagram(record(25, 1, 1, b"x"), cid_len=0).first
    assert empty_cid is not None
    assert empty_cid.cid == b"" and "cid= " in repr(empty_cid)


def test_bad_cid_len_raises() -> None:
    """A negative, too large or non-int cid_len is a programming error and raises."""
    with pytest.raises(ValueError):
        parse_datagram(CLIENT_HELLO, cid_len=-1)
    with pytest.raises(ValueError):
        parse_datagram(CLIENT_HELLO, cid_len=256)
    with pytest.raises(TypeError):
        parse_datagram(CLIENT_HELLO, cid_len="4")  # type: ignore[arg-type]


def test_plaintext_alert_is_decoded() -> None:
    """A plaintext alert gives (level, description) with names."""
    rec = parse_datagram(record(21, 0, 2, b"\x02\x28")).first
    assert rec is not None
    assert rec.alert == (2, 40)
    assert isinstance(rec.alert, AlertMessage)
    assert rec.alert.level_name == "fatal"
    assert rec.alert.description_name == "handshake_failure"
    assert repr(rec) == "<Alert epoch=0 seq=2 len=2 fatal handshake_failure>"
    warning = parse_datagram(record(21, 0, 0, b"\x01\x00")).first
    assert warning is not None
    assert str(warning.alert) == "warning close_notify"


def test_short_plaintext_alert() -> None:
    """A plaintext alert record with fewer than two bytes has no alert and says so."""
    rec = parse_datagram(record(21, 0, 2, b"\x02")).first
    assert rec is not None
    assert rec.alert is None
    assert repr(rec) == "<Alert epoch=0 seq=2 len=1 alert-truncated>"


def test_name_tables() -> None:
    """Content types, handshake types, alerts and versions have RFC names and unknown(N)."""
    assert content_type_name(20) == "change_cipher_spec"
    assert content_type_name(24) == "heartbeat"
    assert content_type_name(99) == "unknown(99)"
    assert handshake_type_name(3) == "hello_verify_request"
    assert handshake_type_name(16) == "client_key_exchange"
    assert handshake_type_name(99) == "unknown(99)"
    expected = {
        0: "close_notify",
        10: "unexpected_message",
        20: "bad_record_mac",
        40: "handshake_failure",
        42: "bad_certificate",
        47: "illegal_parameter",
        48: "unknown_ca",
        50: "decode_error",
        51: "decrypt_error",
        70: "protocol_version",
        80: "internal_error",
        90: "user_canceled",
        100: "no_renegotiation",
        110: "unsupported_extension",
    }
    for number, name in expected.items():
        assert alert_description_name(number) == name
    assert alert_description_name(254) == "unknown(254)"
    assert version_name(DTLS1_2) == "DTLS1.2"
    assert version_name(DTLS1_0) == "DTLS1.0"
    assert version_name(0x0303) == "0x0303"
    # As a tuple: mypy's strict equality holds an IntEnum literal never equal to an int literal.
    assert (ContentType.alert, HandshakeType.finished) == (21, 20)


def test_unknown_type_and_version_repr() -> None:
    """Unknown content types and non-DTLS versions show up in the repr."""
    rec = parse_datagram(record(99, 0, 1, b"xy", version=0x0303)).first
    assert rec is not None
    assert rec.type_name == "unknown(99)"
    assert rec.version_name == "0x0303"
    assert repr(rec) == "<Unknown(99) epoch=0 seq=1 len=2 version=0x0303>"


def test_heartbeat_record() -> None:
    """Heartbeat records are named."""
    assert repr(parse_datagram(record(24, 1, 9, bytes(3))).first) == (
        "<Heartbeat epoch=1 seq=9 len=3 encrypted>"
    )


def test_48_bit_sequence_number_and_epoch() -> None:
    """The sequence number is read as 48 bits and the epoch as 16 bits."""
    rec = parse_datagram(record(23, 0xFFFF, 0xFFFFFFFFFFFF, b"")).first
    assert rec is not None
    assert rec.seq == 2**48 - 1 and rec.epoch == 65535 and rec.length == 0


def test_truncated_handshake_header() -> None:
    """A plaintext handshake record shorter than 12 bytes flags its header as truncated."""
    rec = parse_datagram(record(22, 0, 0, b"\x01\x00\x00\x6c\x00")).first
    assert rec is not None
    hs = handshake_of(rec)
    assert hs.truncated and hs.msg_type == 1 and hs.length == 108
    assert hs.message_seq is None and hs.fragment_length is None
    assert repr(rec) == "<Handshake epoch=0 seq=0 len=5 client_hello header-truncated>"
    dg = parse_datagram(record(22, 0, 0, b"\x01\x00\x00\x6c\x00"))
    assert not dg.is_client_hello  # a truncated header is not trusted


def test_empty_handshake_record() -> None:
    """An empty plaintext handshake record has a truncated header without a type."""
    rec = parse_datagram(record(22, 0, 0, b"")).first
    assert rec is not None
    assert rec.handshake == HandshakeHeader(None, truncated=True)
    assert handshake_of(rec).type_name == "missing"
    assert repr(rec) == "<Handshake epoch=0 seq=0 len=0 header-truncated>"


def test_fragmented_handshake() -> None:
    """A handshake fragment shows offset+length/total and is_fragment."""
    data = record(22, 0, 4, handshake(11, bytes(50), message_seq=2, fragment_offset=100,
                                      total_length=300))
    rec = parse_datagram(data).first
    assert rec is not None
    assert handshake_of(rec).is_fragment
    assert repr(rec) == "<Handshake epoch=0 seq=4 len=62 certificate msg_seq=2 frag=100+50/300>"


def test_handshake_fragment_longer_than_record() -> None:
    """A fragment_length beyond the record is flagged fragment-truncated."""
    body = handshake(1, bytes(20))[:-5]  # header says 20 bytes, only 15 follow
    rec = parse_datagram(record(22, 0, 0, body)).first
    assert rec is not None
    hs = handshake_of(rec)
    assert hs.fragment_truncated and not hs.truncated
    assert repr(rec).endswith("frag=0+20/20 fragment-truncated>")
    assert parse_datagram(record(22, 0, 0, body)).is_client_hello


def test_several_handshake_messages_in_one_record() -> None:
    """All handshake messages packed into one record are listed; .handshake is the first."""
    body = handshake(2, bytes(10), message_seq=1) + handshake(14, b"", message_seq=2)
    rec = parse_datagram(record(22, 0, 1, body)).first
    assert rec is not None
    assert [h.type_name for h in rec.handshakes] == ["server_hello", "server_hello_done"]
    assert handshake_of(rec).msg_type == 2
    assert repr(rec) == (
        "<Handshake epoch=0 seq=1 len=34 server_hello msg_seq=1 frag=0+10/10, "
        "server_hello_done msg_seq=2 frag=0+0/0>"
    )
    tail = parse_datagram(record(22, 0, 1, handshake(2, bytes(10)) + b"\x0e\x00")).first
    assert tail is not None
    assert [h.truncated for h in tail.handshakes] == [False, True]


def test_to_dict_is_json_with_hex_bytes() -> None:
    """to_dict of a datagram and its records is JSON-serialisable with bytes as hex."""
    data = CLIENT_HELLO + record(21, 0, 1, b"\x02\x28") + encrypted_alert() + b"\x17\xfe"
    dg = parse_datagram(data)
    d = json.loads(json.dumps(dg.to_dict()))
    assert d["size"] == len(data)
    assert d["trailing"] == "17fe"
    assert d["error"].startswith("record header truncated")
    assert [r["type_name"] for r in d["records"]] == ["handshake", "alert", "alert"]
    ch = d["records"][0]
    assert ch["payload"] == CLIENT_HELLO[13:].hex()
    assert ch["version_name"] == "DTLS1.2" and ch["encrypted"] is False
    assert ch["handshake"]["type_name"] == "client_hello"
    assert ch["handshake"]["fragment_length"] == 108
    assert d["records"][1]["alert"] == {
        "level": 2,
        "level_name": "fatal",
        "description": 40,
        "description_name": "handshake_failure",
    }
    assert d["records"][2]["encrypted"] is True and d["records"][2]["alert"] is None


def test_records_are_frozen_values() -> None:
    """Records are immutable and compare by value."""
    a = parse_datagram(CLIENT_HELLO).first
    b = parse_datagram(bytearray(CLIENT_HELLO)).first
    assert a is not None and a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.epoch = 3  # type: ignore[misc]
    assert isinstance(a, Record)


def test_bytes_like_inputs() -> None:
    """bytearray and memoryview inputs parse like bytes."""
    assert parse_datagram(memoryview(CLIENT_HELLO)) == parse_datagram(CLIENT_HELLO)
    assert looks_like_dtls(bytearray(CLIENT_HELLO))
