"""The domain looked up, then one conversation with every address of every host, all at once."""

from __future__ import annotations

import logging
import time
from functools import partial

from ..core.inputs import dns_name
from ..core.text import shown
from ..core.threads import concurrently, together
from ..smtp.conversation import converse
from ..tls.errors import NOT_TRUSTED
from .dane import TLSA, dane_matches
from .dns import DNSError, Lookups
from .model import MailDomain, MXHost
from .mta_sts import sts_record

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from typing import Callable

    from ..smtp.model import Session, Target


def mx_hosts(lookups: Lookups, domain: MailDomain) -> None:
    """The MX hosts by preference; none: the implicit MX; 'MX 0 .': a null MX."""
    records, _authenticated = lookups.query(domain.name, "MX")
    exchanges = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in records)
    if exchanges and exchanges[0][1] in ("", "."):
        domain.null_mx = True
        return
    domain.implicit = not exchanges
    pairs = exchanges or [(None, domain.name)]
    names = {name.lower(): (preference, name) for preference, name in reversed(pairs)}
    domain.hosts = [mx_host(name, preference) for preference, name in sorted(names.values())]


def mx_host(name: str, preference: int | None) -> MXHost:
    """An MX host (each name once, at its best preference); a name that cannot be a host
    (the root '.', '\\255' bytes, a space) is never looked up nor talked to: its error says so."""
    try:
        dns_name(name, "MX host")
    except ValueError:
        host = MXHost(shown(name), preference)
        host.error = DNSError("not a valid host name")
        return host
    return MXHost(name, preference)


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
                  for host in domain.hosts if not (host.addresses or host.error)])  # fmt: skip
    domain.dns_time = time.perf_counter() - started


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


def label(host: str, address: str) -> str:
    """The perfdata label of a probe's time: time_<host>_<address>, every character that is
    not a letter, digit or '_' as '_' (Graphite and InfluxDB take it as it is)."""
    name = f"time_{host}_{address}".lower()
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def unique_labels(probes: list[Probe]) -> None:
    """Two names can make one label (mx-1 and mx_1): the second, in the order of host and
    address, gets _2, the next _3, each also unlike every other label."""
    taken: set[str] = set()
    for probe in sorted(probes, key=lambda p: (p.host.name, p.address)):
        base, number = probe.label, 1
        while probe.label in taken:
            number += 1
            probe.label = f"{base}_{number}"
        taken.add(probe.label)


class Probe:
    """One conversation with one address of one MX host, and what DANE says of it."""

    def __init__(self, host: MXHost, address: str, session: Session) -> None:
        self.host = host
        self.address = address
        self.session = session
        self.label = label(host.name, address)  # made unique among a check's probes

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
    def responded(self) -> bool:
        """Did the server say anything: a banner, or a TLS handshake (that may have failed)?"""
        failure = self.session.failure
        return self.session.banner is not None or (failure is not None and failure.phase == "tls")

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


def probe_all(domain: MailDomain, target: Callable[[MXHost, str], Target],
              log: logging.Logger) -> list[Probe]:  # fmt: skip
    """Talk to every address of every host at once; each conversation keeps the deadline."""
    pairs = [(host, address) for host in domain.hosts for address in host.addresses]
    sessions = together([partial(converse, target(host, address),
                                 _Prefixed(log, f"{host.name} [{address}]"))
                         for host, address in pairs])  # fmt: skip
    probes = [Probe(host, address, session)  # type: ignore[arg-type]
              for (host, address), session in zip(pairs, sessions)]  # fmt: skip
    unique_labels(probes)
    return probes


class _Prefixed(logging.LoggerAdapter):
    """A probe's transcript (-vv) lines, each with its host and address: the probes talk at once."""

    def __init__(self, log: logging.Logger, where: str) -> None:
        super().__init__(log, {})
        self.where = where

    def process(self, msg, kwargs):
        return f"{self.where} {msg}", kwargs
