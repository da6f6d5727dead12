"""The lab's resolver (kubesalt.lab.dns): answers parsed by a decoder written here from
RFC 1035, not by the module's own code; over a real UDP socket on loopback."""

import socket
import struct
import threading

import pytest

from kubesalt.lab import dns
from tests.support.cases import load_cases

ZONE = dns.Zone.from_records(
    {
        "salt.lab.kubesalt.test": "10.1.0.5",
        "bastion.lab.kubesalt.test": ["10.1.0.1"],
        "multi.lab.kubesalt.test": ["10.1.0.40", "10.1.0.41"],
    }
)
TYPES = {"A": 1, "PTR": 12, "AAAA": 28, "ANY": 255}
RCODES = {0: "NOERROR", 1: "FORMERR", 3: "NXDOMAIN", 4: "NOTIMP"}


def query(name, qtype="A", ident=0x1234, flags=0x0100, qdcount=1):
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label)
    question += b"\0" + struct.pack("!HH", TYPES[qtype], 1)
    return struct.pack("!HHHHHH", ident, flags, qdcount, 0, 0, 0) + question


def read_name(packet, offset):
    labels = []
    jumped_to = None
    while True:
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            pointer = struct.unpack_from("!H", packet, offset)[0] & 0x3FFF
            jumped_to = jumped_to or offset + 2
            offset = pointer
            continue
        offset += 1
        if length == 0:
            return ".".join(labels), jumped_to or offset
        labels.append(packet[offset : offset + length].decode())
        offset += length


def decode(packet):
    ident, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!HHHHHH", packet)
    offset = 12
    questions = []
    for _ in range(qdcount):
        name, offset = read_name(packet, offset)
        questions.append((name, *struct.unpack_from("!HH", packet, offset)))
        offset += 4
    answers = []
    names = {v: k for k, v in TYPES.items()}
    for _ in range(ancount):
        name, offset = read_name(packet, offset)
        rtype, rclass, ttl, length = struct.unpack_from("!HHIH", packet, offset)
        offset += 10
        rdata = packet[offset : offset + length]
        if rtype == 1:
            data = socket.inet_ntoa(rdata)
        else:
            data, _ = read_name(packet, offset)
        offset += length
        answers.append(
            {"name": name, "type": names[rtype], "class": rclass, "ttl": ttl, "data": data}
        )
    assert offset == len(packet), "trailing bytes"
    return {
        "id": ident,
        "qr": bool(flags & 0x8000),
        "aa": bool(flags & 0x0400),
        "rd": bool(flags & 0x0100),
        "rcode": RCODES.get(flags & 0xF, flags & 0xF),
        "questions": questions,
        "answers": answers,
        "counts": (nscount, arcount),
    }


@pytest.mark.parametrize("case", load_cases(__file__, "dns"))
def test_answer(case):
    response = decode(dns.answer(query(case["name"], case["type"]), ZONE))
    assert response["id"] == 0x1234 and response["qr"] and response["aa"] and response["rd"]
    assert response["rcode"] == case["rcode"]
    # The question comes back as asked (case kept), every answer names it.
    assert response["questions"] == [(case["name"].rstrip("."), TYPES[case["type"]], 1)]
    assert [[a["type"], a["data"]] for a in response["answers"]] == case["answers"]
    assert all(a["name"] == case["name"].rstrip(".") and a["ttl"] == 0 for a in response["answers"])
    assert response["counts"] == (0, 0)


@pytest.mark.parametrize(
    ("packet", "rcode"),
    [
        (query("salt.lab.kubesalt.test", qdcount=2), "FORMERR"),
        (query("salt.lab.kubesalt.test")[:-3], "FORMERR"),  # truncated question
        (query("salt.lab.kubesalt.test")[:14], "FORMERR"),  # label past the end
        (query("salt.lab.kubesalt.test", flags=0x2800), "NOTIMP"),  # opcode UPDATE
        (query("salt.lab.kubesalt.test")[:12] + b"\xc0\x0c\0\1\0\1", "FORMERR"),  # pointer
    ],
    ids=["two-questions", "no-type", "truncated-label", "update", "compressed-question"],
)
def test_malformed_queries_get_an_error_never_silence(packet, rcode):
    response = decode(dns.answer(packet, ZONE))
    assert response["rcode"] == rcode and response["qr"]


@pytest.mark.parametrize("packet", [b"", b"\x12\x34", query("x.test", flags=0x8100)])
def test_no_answer_to_garbage_or_to_responses(packet):
    assert dns.answer(packet, ZONE) is None


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({"bad..name": "10.1.0.1"}, "'bad..name' is not a DNS name"),
        ({"host.test": "10.1.0.300"}, "'10.1.0.300' (for 'host.test') is not an IPv4 address"),
        ({"x" * 64 + ".test": "10.1.0.1"}, "is not a DNS name"),
    ],
)
def test_bad_records_are_refused_naming_them(records, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dns.server_spec(["10.1.0.2"], records)


def test_bad_listen_address_and_port_are_refused():
    with pytest.raises(ValueError):
        dns.server_spec(["10.1.0"], {})
    with pytest.raises(ValueError, match="port 0"):
        dns.server_spec(["10.1.0.2"], {}, port=0)


def test_serves_over_udp_and_survives_garbage():
    # Port 0 (any free one): server_spec refuses it for a lab, bind() takes it.
    spec = {"listen": ["127.0.0.1"], "records": {"salt.lab.kubesalt.test": "10.1.0.5"}, "port": 0}
    bound = dns.bind([spec])
    port = bound[0][0].getsockname()[1]
    threading.Thread(target=_serve_without_signals, args=(bound,), daemon=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(b"\x00", ("127.0.0.1", port))  # ignored
        for ident, (name, rcode) in enumerate(
            [("salt.lab.kubesalt.test", "NOERROR"), ("pypi.org", "NXDOMAIN")], start=1
        ):
            client.sendto(query(name, ident=ident), ("127.0.0.1", port))
            response = decode(client.recvfrom(512)[0])
            assert (response["id"], response["rcode"]) == (ident, rcode)


def _serve_without_signals(bound):
    # serve() installs a SIGTERM handler, which only the main thread may do.
    original = dns.signal.signal
    dns.signal.signal = lambda *args: None
    try:
        dns.serve(bound)
    finally:
        dns.signal.signal = original
