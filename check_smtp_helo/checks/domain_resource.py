"""The domain check's Resource (--mx, --all-addresses): the domain looked up, every address
probed at once, and the metrics of it all."""

from __future__ import annotations

import time

import nagiosplugin

from ..core.threads import together
from ..domain.dns import DNSError, Lookups
from ..domain.mta_sts import fetch_policy, read_policy
from ..domain.probes import look_up, probe_all
from .resource import log

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from typing import Callable

    from ..core.deadline import Deadline
    from ..domain.model import MailDomain, MXHost
    from ..domain.probes import Probe
    from ..smtp.model import Target
    from ..tls.policy import TLSPolicy

    # (host, address) -> the Target of one probe
    MakeTarget = Callable[[MXHost, str], Target]

RESERVE = 0.25  # seconds (a tenth of -t at the most) kept to judge many probes and print


def probes_deadline(deadline: Deadline, timeout: float) -> float:
    """When the DNS, the probes and the policy fetch must be done (time.perf_counter()): a
    little before the -t deadline, so that what they found is judged and printed in time."""
    end = deadline.at if deadline.at is not None else time.perf_counter() + timeout
    return end - min(RESERVE, timeout / 10)


class DomainProbes(nagiosplugin.Resource):
    """Looks the domain up, then talks to every address of every host at once, all within
    the one timeout. Yields the DNS time, the address counts, the slowest time, each probe,
    and the hosts for DANE and MTA-STS to judge."""

    def __init__(self, domain: MailDomain, make_target: MakeTarget, *, timeout: float,
                 deadline: float, resolver: tuple[str, int] | None, family: int, port: int,
                 dane: bool, policy_tls: TLSPolicy | None) -> None:  # fmt: skip
        self.domain = domain
        self.make_target = make_target
        self.timeout = timeout
        self.deadline = deadline
        self.resolver = resolver
        self.family = family
        self.port = port
        self.dane = dane
        self.policy_tls = policy_tls  # --mta-sts: how to fetch the policy
        self.probes: list[Probe] = []

    @property
    def name(self) -> str:
        return "SMTP"

    def probe(self):
        deadline = self.deadline
        domain = self.domain
        lookups = Lookups(self.resolver, deadline)
        try:
            look_up(lookups, domain, family=self.family, port=self.port, dane=self.dane,
                    mta_sts=self.policy_tls is not None)  # fmt: skip
        except DNSError as exc:
            yield nagiosplugin.Metric("failure", exc, context="failure")
            return
        yield nagiosplugin.Metric("dns", domain.dns_time, "s", min=0, context="phase")
        if domain.null_mx:
            yield nagiosplugin.Metric("null_mx", domain, context="null_mx")
            return
        calls: list[Callable[[], object]] = [lambda: probe_all(domain, self.make_target, log)]
        if self.policy_tls is not None:  # the policy is fetched while the probes talk
            fetch = fetch_policy(self.policy_tls, deadline, log)
            calls.append(lambda: read_policy(lookups, domain, self.family, fetch))
        self.probes = together(calls)[0]  # type: ignore[assignment]
        answered = [p for p in self.probes if p.answered]
        times = [t for t in (p.session.response_time for p in answered) if t is not None]
        total = len(self.probes)
        yield nagiosplugin.Metric("addresses", total, min=0, context="addresses")
        yield nagiosplugin.Metric(
            "addresses_ok", len(answered), min=0, max=total, context="answered"
        )
        if times:
            yield nagiosplugin.Metric(
                "time", max(times), "s", min=0, max=self.timeout, context="slowest"
            )
        for host in domain.hosts:
            yield nagiosplugin.Metric(f"host {host.name}", host, context="host")
        for probe in self.probes:
            yield nagiosplugin.Metric(probe.label, probe, context="probe")
        if self.dane:
            for host in domain.hosts:
                yield nagiosplugin.Metric(f"dane {host.name}", host, context="dane")
        if self.policy_tls:
            yield nagiosplugin.Metric("mta_sts", domain, context="mta_sts")

    def probes_of(self, host: MXHost) -> list[Probe]:
        return [probe for probe in self.probes if probe.host is host]
