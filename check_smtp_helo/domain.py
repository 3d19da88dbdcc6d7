"""The mail domain: its MX hosts and their addresses, TLSA records and the MTA-STS policy,
and one conversation with every address, all at once, within one deadline.

DNS goes through dnspython, which only the domain options import (with this module): a
plain check pays nothing for it. Nothing here knows about Nagios.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from functools import partial

import dns.edns
import dns.exception
import dns.flags
import dns.rcode
import dns.resolver

from .base import NOT_TRUSTED, printable
from .smtp import Session, Target, converse, endpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from .smtp import Lookup
    from .tls import TLSPolicy

EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no fragmented UDP
POLICY_LIMIT = 65536  # RFC 8461 3.2: a policy is at most 64 KiB
POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY_MODES = ("enforce", "testing", "none")
DANE_USAGES, DANE_SELECTORS = (2, 3), (0, 1)  # RFC 7672 3.1: DANE-TA, DANE-EE; cert, SPKI
DIGESTS = {0: None, 1: "sha256", 2: "sha512"}  # TLSA matching types: full, SHA-256, SHA-512


class DNSError(OSError):
    """A lookup that failed (or a fetch that timed out); the text says why. An OSError, so
    that the conversation reports it as it reports a failed getaddrinfo."""

    def __init__(self, reason: str, timed_out: bool = False, no_such_name: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.no_such_name = no_such_name  # NXDOMAIN: for a TLSA or TXT name, just none there

    def __str__(self) -> str:
        return self.reason


class Lookups:
    """The DNS queries of one check: to the --resolver or the system's, with the DO bit
    (so that a validating resolver sets AD), within the check's deadline."""

    def __init__(self, server: tuple[str, int] | None, deadline: float) -> None:
        self.resolver = dns.resolver.Resolver(configure=server is None)
        if server is not None:
            self.resolver.nameservers = [server[0]]
            self.resolver.port = server[1]
        self.resolver.use_edns(0, dns.flags.DO, EDNS_PAYLOAD)
        self.resolver.flags = dns.flags.RD | dns.flags.AD
        self.deadline = deadline

    def query(self, name: str, rdtype: str) -> tuple[list, bool]:
        """The records of a type (none when the name has none) and whether they are
        authenticated (AD); DNSError for NXDOMAIN, SERVFAIL (a bogus answer) or no answer."""
        left = self.deadline - time.perf_counter()
        late = DNSError(f"no answer to the {rdtype} query in time", timed_out=True)
        if left <= 0:
            raise late
        try:
            answer = self.resolver.resolve(
                name, rdtype, lifetime=left, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN as exc:
            raise DNSError("no such domain (NXDOMAIN)", no_such_name=True) from exc
        except dns.resolver.LifetimeTimeout as exc:
            raise late from exc
        except dns.resolver.NoNameservers as exc:
            raise DNSError(f"{rdtype} query failed: {_server_failure(exc)}") from exc
        except dns.exception.DNSException as exc:
            raise DNSError(f"{rdtype} query failed: {exc}") from exc
        authenticated = bool(answer.response.flags & dns.flags.AD)
        return list(answer.rrset or ()), authenticated

    def addresses(self, name: str, family: int) -> list[str]:
        """A and AAAA of a name (one of them with -4 or -6), both asked at once."""
        kinds = (
            ["A"]
            if family == socket.AF_INET
            else ["AAAA"]
            if family == socket.AF_INET6
            else ["A", "AAAA"]
        )
        answers = together([partial(self.records, name, kind) for kind in kinds])
        return [record.address for answer in answers for record in answer]  # type: ignore[attr-defined]

    def records(self, name: str, rdtype: str) -> list:
        """query() without the AD flag."""
        return self.query(name, rdtype)[0]


def _server_failure(exc: dns.resolver.NoNameservers) -> str:
    """SERVFAIL and the like in words, with the resolver's Extended DNS Error when it gave one
    (Unbound: 'DNSSEC Bogus')."""
    for error in exc.kwargs.get("errors", []):
        response = error[4] if len(error) > 4 else None
        if response is None:
            continue
        words = dns.rcode.to_text(response.rcode())
        for option in response.options:
            if isinstance(option, dns.edns.EDEOption):
                words += f" ({dns.edns.EDECode.to_text(option.code)}"
                words += f": {option.text})" if option.text else ")"
        return words
    return "no answer from the resolver"


def lookup_with(server: tuple[str, int] | None, family: int) -> Lookup:
    """A Target's lookup through dnspython: -H with --resolver."""

    def lookup(name: str, left: float) -> list[str]:
        return Lookups(server, time.perf_counter() + left).addresses(name, family)

    return lookup


def concurrently(calls: list[Callable[[], object]]) -> list[object]:
    """Each call in a thread of its own; their results (or exceptions) in order. Every call
    keeps the deadline itself."""
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:  # handed to the caller, who words it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def together(calls: list[Callable[[], object]]) -> list[object]:
    """concurrently(), where the first exception is raised (after every call ended)."""
    results = concurrently(calls)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


class TLSA:
    """The TLSA records of an MX host: (usage, selector, matching type, data), whether the
    resolver authenticated them, and the lookup's error."""

    def __init__(self, records: list[tuple[int, int, int, bytes]], authenticated: bool,
                 error: str | None = None) -> None:  # fmt: skip
        self.records = records
        self.authenticated = authenticated
        self.error = error

    @property
    def usable(self) -> list[tuple[int, int, int, bytes]]:
        """The records RFC 7672 lets SMTP use: DANE-TA or DANE-EE, known selector and type."""
        return [r for r in self.records if r[0] in DANE_USAGES and r[1] in DANE_SELECTORS
                and r[2] in DIGESTS]  # fmt: skip

    @property
    def applies(self) -> bool:
        """DANE decides: usable records, authenticated by DNSSEC."""
        return self.authenticated and bool(self.usable)


class MXHost:
    """One MX host (or the -H host): its name, preference, addresses and TLSA records."""

    def __init__(self, name: str, preference: int | None) -> None:
        self.name = name
        self.preference = preference
        self.addresses: list[str] = []
        self.error: DNSError | None = None  # its addresses could not be looked up
        self.tlsa: TLSA | None = None


class Policy:
    """An MTA-STS policy (RFC 8461 3.2): mode, mx patterns and max_age."""

    def __init__(self, mode: str, patterns: list[str], max_age: int) -> None:
        self.mode = mode
        self.patterns = patterns
        self.max_age = max_age

    def allows(self, host: str) -> bool:
        """Does an mx pattern match the host (RFC 8461 4.1: '*.' stands for one label)?"""
        host = host.rstrip(".").lower()
        for pattern in (p.rstrip(".").lower() for p in self.patterns):
            if pattern.startswith("*."):
                label, _, rest = host.partition(".")
                if label and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def parse_policy(text: str) -> Policy:
    """The policy from the body of mta-sts.txt; ValueError says what is wrong with it."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise ValueError("policy has no 'version: STSv1'")
    mode = (fields.get("mode") or [""])[0]
    if mode not in POLICY_MODES:
        raise ValueError(f"policy mode {printable(mode.encode())[:20]!r} is not one of "
                         f"{', '.join(POLICY_MODES)}")  # fmt: skip
    age = (fields.get("max_age") or [""])[0]
    if not age.isdigit():
        raise ValueError("policy has no max_age")
    patterns = fields.get("mx", [])
    if mode != "none" and not patterns:
        raise ValueError("policy lists no mx")
    return Policy(mode, patterns, int(age))


class MailDomain:
    """What DNS says about a domain (or about the -H host with --all-addresses)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hosts: list[MXHost] = []
        self.implicit = False  # no MX records: the domain itself is its MX (RFC 5321 5.1)
        self.null_mx = False  # 'MX 0 .' (RFC 7505): the domain accepts no mail
        self.sts_record = False  # _mta-sts TXT with v=STSv1
        self.policy: Policy | None = None
        self.policy_error: str | None = None
        self.dns_time = 0.0


def mx_hosts(lookups: Lookups, domain: MailDomain) -> None:
    """The MX hosts by preference; none: the implicit MX; 'MX 0 .': a null MX."""
    records, _authenticated = lookups.query(domain.name, "MX")
    exchanges = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in records)
    if exchanges and exchanges[0][1] in ("", "."):
        domain.null_mx = True
        return
    domain.implicit = not exchanges
    pairs = exchanges or [(None, domain.name)]
    domain.hosts = [MXHost(name, preference) for preference, name in pairs]


def look_up(lookups: Lookups, domain: MailDomain, *, family: int, port: int, dane: bool,
            mta_sts: bool) -> None:  # fmt: skip
    """Fill in the domain: MX hosts (unless given), their addresses and TLSA records, and
    whether it has an MTA-STS record, each kind of query at once for every host; DNSError
    when the domain itself fails."""
    started = time.perf_counter()
    calls: list[Callable[[], object]] = []
    if not domain.hosts:
        calls.append(lambda: mx_hosts(lookups, domain))
    if mta_sts:
        calls.append(lambda: sts_record(lookups, domain))
    together(calls)
    concurrently([partial(_host_records, lookups, host, family, port, dane)
                  for host in domain.hosts if not host.addresses])  # fmt: skip
    domain.dns_time = time.perf_counter() - started


def sts_record(lookups: Lookups, domain: MailDomain) -> None:
    """Is there exactly one _mta-sts TXT record with v=STSv1 (RFC 8461 3.1)?"""
    try:
        records, _authenticated = lookups.query(f"_mta-sts.{domain.name}", "TXT")
    except DNSError as exc:
        if not exc.no_such_name:
            domain.policy_error = exc.reason
        return
    texts = [b"".join(record.strings) for record in records]
    domain.sts_record = sum(text.startswith(b"v=STSv1") for text in texts) == 1


def _host_records(lookups: Lookups, host: MXHost, family: int, port: int, dane: bool) -> None:
    """A host's addresses and, with --dane, its TLSA records at _port._tcp.host."""
    calls: list[Callable[[], object]] = [lambda: lookups.addresses(host.name, family)]
    if dane:
        calls.append(lambda: lookups.query(f"_{port}._tcp.{host.name}", "TLSA"))
    addresses, *tlsa = concurrently(calls)
    if isinstance(addresses, DNSError):
        host.error = addresses
    elif isinstance(addresses, list):
        host.addresses = addresses
    if tlsa and isinstance(tlsa[0], DNSError):
        host.tlsa = TLSA([], False, None if tlsa[0].no_such_name else tlsa[0].reason)
    elif tlsa and isinstance(tlsa[0], tuple):
        records, authenticated = tlsa[0]
        host.tlsa = TLSA([(r.usage, r.selector, r.mtype, r.cert) for r in records], authenticated)


def read_policy(lookups: Lookups, domain: MailDomain, family: int,
                fetch: Callable[[str, list[str]], str]) -> None:  # fmt: skip
    """Fetch and read the policy from mta-sts.<domain>; what fails is the policy's error."""
    if not domain.sts_record:
        return
    name = f"mta-sts.{domain.name}"
    try:
        domain.policy = parse_policy(fetch(name, lookups.addresses(name, family)))
    except (OSError, ValueError) as exc:
        domain.policy_error = f"policy from {name}: {exc}"


def fetch_policy(
    tls: TLSPolicy, deadline: float, log: logging.Logger
) -> Callable[[str, list[str]], str]:
    """A fetcher of https://NAME/.well-known/mta-sts.txt from the first address: the chain
    verified, no redirect followed, size and time bounded. OSError or ValueError say why not."""
    from .base import HandshakeError  # noqa: PLC0415

    def fetch(name: str, addresses: list[str]) -> str:
        if not addresses:
            raise DNSError("no address")
        address = addresses[0]
        where = endpoint(address, 443)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        channel = None
        try:
            sock.settimeout(max(deadline - time.perf_counter(), 0.001))
            sock.connect((address, 443))
            try:
                left = max(deadline - time.perf_counter(), 0.001)
                channel = tls.handshake(sock, name, left, log)
            except HandshakeError as exc:
                raise ValueError(str(exc)) from exc
            request = f"GET {POLICY_PATH} HTTP/1.0\r\nHost: {name}\r\nConnection: close\r\n\r\n"
            channel.sendall(request.encode("ascii"))
            response = b""
            while len(response) <= POLICY_LIMIT + 4096:  # the body and some headers
                channel.settimeout(max(deadline - time.perf_counter(), 0.001))
                chunk = channel.recv(16384)
                if not chunk:
                    break
                response += chunk
        except socket.timeout as exc:  # TimeoutError is its alias only from Python 3.10 on
            raise OSError(f"no answer from {where} in time") from exc
        except OSError as exc:
            raise OSError(f"{where}: {(exc.strerror or str(exc)).lower()}") from exc
        finally:
            (channel or sock).close()
        return policy_body(response)

    return fetch


def policy_body(response: bytes) -> str:
    """The body of an HTTP response that must be '200' with text/plain; ValueError else."""
    head, separator, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if not separator or len(status) < 2 or not status[0].startswith(b"HTTP/"):
        raise ValueError("not an HTTP response")
    if status[1] != b"200":
        code = printable(status[1])
        note = " (redirects are not followed)" if code.startswith("3") else ""
        raise ValueError(f"HTTP status {code}{note}")
    if len(body) > POLICY_LIMIT:
        raise ValueError(f"policy larger than {POLICY_LIMIT} bytes")
    headers = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
    kind = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}.get(b"content-type")
    if kind is None or kind.split(b";", 1)[0].strip() != b"text/plain":  # parameters may follow
        raise ValueError("policy is not text/plain")
    return body.decode("ascii", "replace")


class Probe:
    """One conversation with one address of one MX host, and what DANE says of it."""

    def __init__(self, host: MXHost, address: str, session: Session) -> None:
        self.host = host
        self.address = address
        self.session = session

    @property
    def label(self) -> str:
        """The perfdata label of its time: time_<host>_<address>, every character that is
        not a letter, digit or '_' as '_' (Graphite and InfluxDB take it as it is)."""
        name = f"time_{self.host.name}_{self.address}".lower()
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    @property
    def where(self) -> str:
        """'mx1.example.com [192.0.2.9]'."""
        return f"{self.host.name} [{self.address}]"

    @property
    def answered(self) -> bool:
        """Did the server take the conversation to its end: banner 220, EHLO/HELO 250?"""
        session = self.session
        return (session.failure is None and session.banner is not None
                and session.banner.code == 220 and session.helo is not None
                and session.helo.code == 250)  # fmt: skip

    @property
    def certificate_rejected(self) -> bool:
        """Did the handshake fail because the certificate is not valid for the host?"""
        failure = self.session.failure
        return failure is not None and failure.reason.startswith(NOT_TRUSTED)

    def dane(self) -> str | None:
        """DANE's word on this probe: 'match', 'mismatch', 'unauthenticated', or None when
        DANE has nothing to say (no TLSA or no answer, no TLS reached)."""
        tlsa = self.host.tlsa
        if tlsa is None or tlsa.error or not tlsa.records:
            return None
        if not tlsa.authenticated:
            return "unauthenticated"
        if not tlsa.usable or self.session.tls is None:
            return None
        tls = self.session.tls
        names = [name[4:] for name in tls.alt_names if name.startswith("DNS:")]
        matched = dane_matches(tlsa.usable, tls.certificates, names, self.host.name)
        return "match" if matched else "mismatch"


def dane_matches(records: list[tuple[int, int, int, bytes]], chain: list[bytes],
                 names: list[str], host: str) -> bool:  # fmt: skip
    """Does the chain the server sent (leaf first, whose DNS names are given) match a record
    (RFC 7672 3.1)? DANE-EE (3) matches the leaf, with no name check; DANE-TA (2) a
    certificate above the leaf, and then the leaf must name the host."""
    from .tls import public_key_info  # noqa: PLC0415 -- ssl: a TLS check has it loaded

    for usage, selector, matching, data in records:
        for der in chain[:1] if usage == 3 else chain[1:]:
            try:
                content = der if selector == 0 else public_key_info(der)
            except ValueError:  # a certificate that is not DER matches nothing
                continue
            digest = DIGESTS[matching]
            if (hashlib.new(digest, content).digest() if digest else content) != data:
                continue
            if usage == 3 or names_host(names, host):
                return True
    return False


def names_host(names: list[str], host: str) -> bool:
    """Does a certificate's DNS name (a wildcard in the first label only) cover the host?"""
    host = host.rstrip(".").lower()
    for name in (n.rstrip(".").lower() for n in names):
        if name == host:
            return True
        if name.startswith("*.") and host.partition(".")[2] == name[2:] and "." in name[2:]:
            return True
    return False


def probe_all(domain: MailDomain, target: Callable[[MXHost, str], Target],
              log: logging.Logger) -> list[Probe]:  # fmt: skip
    """Talk to every address of every host at once; each conversation keeps the deadline."""
    pairs = [(host, address) for host in domain.hosts for address in host.addresses]
    sessions = together([partial(converse, target(host, address),
                                 _Prefixed(log, f"{host.name} [{address}]"))
                         for host, address in pairs])  # fmt: skip
    return [Probe(host, address, session)  # type: ignore[arg-type]
            for (host, address), session in zip(pairs, sessions)]  # fmt: skip


class _Prefixed(logging.LoggerAdapter):
    """A probe's transcript (-vv) lines, each with its host and address: the probes talk at once."""

    def __init__(self, log: logging.Logger, where: str) -> None:
        super().__init__(log, {})
        self.where = where

    def process(self, msg, kwargs):
        return f"{self.where} {msg}", kwargs
