"""A scripted DNS server on loopback, for the mail domain's hostile cases: names that no
zone file takes (an MX of 255 octets of \\255, the root as an MX host), hundreds of MX
records, the same host twice. It answers over UDP and TCP (a large answer is truncated over
UDP, as a real server does), and sets AD when told, as a validating resolver would."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

UDP_LIMIT = 512  # without EDNS; with it, what the query offers


class ScriptedDNS:
    """Answers from `records`: {(name, type): [rdata in zone file syntax]}; a name with
    records of other types only gets an empty answer, any other name NXDOMAIN."""

    def __init__(self, records: dict[tuple[str, str], list[str]], authenticated: bool = False,
                 host: str = "127.0.0.1") -> None:  # fmt: skip
        self.records = {
            (dns.name.from_text(name), rdtype.upper()): rdatas
            for (name, rdtype), rdatas in records.items()
        }
        self.names = {name for name, _rdtype in self.records}
        self.authenticated = authenticated
        self.queries: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.udp, self.tcp = _bound(host)
        self.port = self.udp.getsockname()[1]
        for sock in (self.udp, self.tcp):
            sock.settimeout(0.1)
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True),
                        threading.Thread(target=self._serve_tcp, daemon=True)]  # fmt: skip
        for thread in self.threads:
            thread.start()

    @property
    def address(self) -> str:
        """What --resolver takes."""
        return f"127.0.0.1:{self.port}"

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.authenticated:
            response.flags |= dns.flags.AD
        question = query.question[0]
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((question.name.to_text(), rdtype))
        rdatas = self.records.get((question.name, rdtype))
        if rdatas:
            answer = dns.rrset.from_text_list(question.name, 60, "IN", rdtype, rdatas)
            response.answer.append(answer)
        elif question.name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def _serve_udp(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            with contextlib.suppress(dns.exception.DNSException, OSError):
                query = dns.message.from_wire(data)
                response = self.answer(query)
                limit = max(UDP_LIMIT, query.payload if query.edns >= 0 else 0)
                try:
                    wire = response.to_wire(max_size=limit)
                except dns.exception.TooBig:
                    response.answer.clear()
                    response.flags |= dns.flags.TC
                    wire = response.to_wire()
                self.udp.sendto(wire, peer)

    def _serve_tcp(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _peer = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    def _serve_connection(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(dns.exception.DNSException, OSError, struct.error):
            conn.settimeout(5)
            while data := _read(conn, 2):
                query = dns.message.from_wire(_read(conn, struct.unpack("!H", data)[0]))
                wire = self.answer(query).to_wire(max_size=65535)  # not the UDP payload
                conn.sendall(struct.pack("!H", len(wire)) + wire)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(2)
        self.udp.close()
        self.tcp.close()

    def __enter__(self) -> ScriptedDNS:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def _bound(host: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on one port of host."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        try:
            return udp, socket.create_server((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")
