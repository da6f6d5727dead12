"""The lab's resolver: a small authoritative DNS responder, like a cloud subnet's.

An OpenStack subnet without ``dns_nameservers`` gets Neutron's dnsmasq on its DHCP port: it
answers for the ports' names at once and (with no upstream) says NXDOMAIN for the rest. The
lab's hosts get the same: :func:`serve` answers UDP queries on the addresses it listens on
from a :class:`Zone` (names to IPv4 addresses; the matching ``in-addr.arpa`` PTR records are
derived), NXDOMAIN for any other name, so no look-up in a host ever waits for a timeout.

It runs in the lab's switch namespace (:mod:`kubesalt.lab.hostinit`), the only place where
every lab network meets; its addresses live on the lab's bridges, so nothing of it exists
outside the lab's namespaces. Any lab service that needs a resolver on a network of its own
(e.g. a subnet of the lab cloud) passes a :func:`server_spec` in the supervisor's spec:
``{"dns": [server_spec(...), ...]}``; a process of its own in some other namespace runs
:func:`main` with ``SPEC.json`` (a JSON list of :func:`server_spec`), as the lab
cloud's backing daemon does on each network (:mod:`kubesalt.cloud.instances`).

Only what a stub resolver (glibc, musl, Python's socket module) sends is handled: one
question, class IN, standard query. Anything else gets FORMERR or NOTIMP, never silence.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import sys

DNS_PORT = 53
# Zero like dnsmasq's answers from its host files: the lab's names can change under a
# running lab (a host added), nothing may keep a stale answer.
TTL = 0
# Linux IP_FREEBIND (not exported by Python's socket module): bind an address before it
# exists, so the responder is listening by the time the lab puts the address on a bridge.
IP_FREEBIND = 15

TYPE_A = 1
TYPE_PTR = 12
TYPE_ANY = 255
CLASS_IN = 1
RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4

_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_ANSWER_FIXED = struct.Struct("!HHIH")
# A compression pointer to the question's name, which always starts right after the header.
_NAME_POINTER = b"\xc0\x0c"


class DNSFormatError(ValueError):
    """A query the responder cannot parse."""


def _normal(name: str) -> str:
    return name.lower().rstrip(".")


def reverse_name(address: str) -> str:
    """``10.1.0.5`` -> ``5.0.1.10.in-addr.arpa``."""
    return ipaddress.IPv4Address(address).reverse_pointer


@dataclasses.dataclass(frozen=True)
class Zone:
    """The names a resolver answers for: ``{fqdn: (IPv4 address, ...)}``."""

    records: dict[str, tuple[str, ...]]

    @classmethod
    def from_records(cls, records: dict[str, list[str] | tuple[str, ...] | str]) -> Zone:
        """Build a zone from ``{name: address or [addresses]}``; raises ValueError naming a
        bad name or address."""
        zone: dict[str, tuple[str, ...]] = {}
        for name, value in records.items():
            addresses = [value] if isinstance(value, str) else value
            key = _normal(name)
            labels = key.split(".")
            if not key or any(not 0 < len(label) <= 63 for label in labels) or len(key) > 253:
                raise ValueError(f"dns: {name!r} is not a DNS name")
            for address in addresses:
                try:
                    ipaddress.IPv4Address(address)
                except ValueError:
                    raise ValueError(
                        f"dns: {address!r} (for {name!r}) is not an IPv4 address"
                    ) from None
            zone[key] = zone.get(key, ()) + tuple(addresses)
        return cls(zone)

    def addresses(self, name: str) -> tuple[str, ...] | None:
        """The A records of ``name``; ``()`` for a name that exists without any (a parent
        of a record, e.g. the domain itself); None for a name the zone does not know."""
        key = _normal(name)
        if key in self.records:
            return self.records[key]
        if any(known.endswith("." + key) for known in self.records):
            return ()
        return None

    def pointers(self, name: str) -> tuple[str, ...] | None:
        """The PTR targets of an ``in-addr.arpa`` name (None when unknown)."""
        key = _normal(name)
        targets = tuple(
            sorted(
                host
                for host, addresses in self.records.items()
                for address in addresses
                if reverse_name(address) == key
            )
        )
        return targets or None


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """The (uncompressed) question name at ``offset`` and the offset after it."""
    labels = []
    while True:
        if offset >= len(packet):
            raise DNSFormatError("name runs past the end of the packet")
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        if length > 63:  # compression pointers never appear in a question
            raise DNSFormatError("compressed or bad label in the question")
        label = packet[offset : offset + length]
        if len(label) != length:
            raise DNSFormatError("label runs past the end of the packet")
        labels.append(label.decode("ascii", errors="replace"))
        offset += length


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.split("."):
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def _record(rtype: int, rdata: bytes) -> bytes:
    """An answer record for the question's name."""
    return _NAME_POINTER + _ANSWER_FIXED.pack(rtype, CLASS_IN, TTL, len(rdata)) + rdata


def answer(query: bytes, zone: Zone) -> bytes | None:
    """The response to one query packet, or None when it is not even a DNS header (or is
    itself a response): nothing to answer."""
    if len(query) < _HEADER.size:
        return None
    ident, flags, qdcount, _an, _ns, _ar = _HEADER.unpack_from(query)
    if flags & 0x8000:  # a response: never answer those (no loops)
        return None
    opcode = (flags >> 11) & 0xF
    recursion_desired = flags & 0x0100

    def reply(rcode: int, question: bytes = b"", answers: list[bytes] = ()) -> bytes:
        # QR, the query's opcode and RD, AA (authoritative for the lab), RA like dnsmasq.
        out_flags = 0x8000 | (opcode << 11) | 0x0400 | recursion_desired | 0x0080 | rcode
        header = _HEADER.pack(ident, out_flags, 1 if question else 0, len(answers), 0, 0)
        return header + question + b"".join(answers)

    if opcode != 0:
        return reply(RCODE_NOTIMP)
    if qdcount != 1:
        return reply(RCODE_FORMERR)
    try:
        name, offset = _read_name(query, _HEADER.size)
        if offset + _QUESTION_TAIL.size > len(query):
            raise DNSFormatError("question without type and class")
        qtype, qclass = _QUESTION_TAIL.unpack_from(query, offset)
    except DNSFormatError:
        return reply(RCODE_FORMERR)
    question = query[_HEADER.size : offset + _QUESTION_TAIL.size]
    if qclass not in (CLASS_IN, TYPE_ANY):
        return reply(RCODE_NXDOMAIN, question)

    rcode, answers = _answers(name, qtype, zone)
    return reply(rcode, question, answers)


def _answers(name: str, qtype: int, zone: Zone) -> tuple[int, list[bytes]]:
    """The rcode and answer records of a question for ``name`` of type ``qtype``."""
    if _normal(name).endswith(".in-addr.arpa"):
        targets = zone.pointers(name)
        if targets is None:
            return RCODE_NXDOMAIN, []
        if qtype not in (TYPE_PTR, TYPE_ANY):
            return RCODE_NOERROR, []
        return RCODE_NOERROR, [_record(TYPE_PTR, _encode_name(target)) for target in targets]
    addresses = zone.addresses(name)
    if addresses is None:
        return RCODE_NXDOMAIN, []
    if qtype not in (TYPE_A, TYPE_ANY):
        # Other types of a known name (AAAA, MX, ...): NOERROR without answers (NODATA).
        return RCODE_NOERROR, []
    return RCODE_NOERROR, [_record(TYPE_A, socket.inet_aton(address)) for address in addresses]


def server_spec(listen: list[str], records: dict, port: int = DNS_PORT) -> dict:
    """One resolver for the supervisor's spec (JSON): the addresses it answers on and its
    records. Validated here, so a bad spec fails ``lab up`` before any namespace exists."""
    for address in listen:
        ipaddress.IPv4Address(address)
    Zone.from_records(records)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"dns: port {port!r} is not a UDP port")
    return {"listen": list(listen), "records": dict(records), "port": port}


def bind(specs: list[dict]) -> list[tuple[socket.socket, Zone]]:
    """A UDP socket per listen address of every spec, bound (IP_FREEBIND) in the calling
    process's network namespace, with the zone it answers from."""
    bound = []
    try:
        for spec in specs:
            zone = Zone.from_records(spec["records"])
            for address in spec["listen"]:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                bound.append((sock, zone))
                sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
                sock.bind((address, spec.get("port", DNS_PORT)))
    except BaseException:
        for sock, _zone in bound:
            sock.close()
        raise
    return bound


def serve(bound: list[tuple[socket.socket, Zone]]) -> None:
    """Answer queries on the sockets of :func:`bind` until SIGTERM. Never raises for a bad
    packet: a malformed query gets FORMERR or nothing."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    by_fd = {sock.fileno(): (sock, zone) for sock, zone in bound}
    while True:
        try:
            readable, _, _ = select.select(list(by_fd), [], [])
        except InterruptedError:
            continue
        for fd in readable:
            sock, zone = by_fd[fd]
            try:
                query, client = sock.recvfrom(4096)
            except OSError:
                continue
            response = answer(query, zone)
            if response is not None:
                try:
                    sock.sendto(response, client)
                except OSError:
                    pass


def main(argv: list[str]) -> int:
    """``main(["SPEC.json"])``: bind the resolvers of a JSON list of :func:`server_spec` in
    the current network namespace and answer until SIGTERM."""
    if len(argv) != 1:
        print("usage: python -m kubesalt.lab.dns SPEC.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        specs = [
            server_spec(s["listen"], s["records"], s.get("port", DNS_PORT))
            for s in json.load(handle)
        ]
    serve(bind(specs))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
