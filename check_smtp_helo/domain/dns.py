"""DNS queries through dnspython, within the deadline, with the DO bit: what a validating
resolver authenticated is known."""

from __future__ import annotations

import socket
import time
from functools import partial

# dnspython imports the class of a record type when it first reads one: every domain check
# reads these, so they are imported with this module, before the deadline is armed
import dns.edns
import dns.exception
import dns.flags
import dns.rcode
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.ANY.TLSA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver

from ..core.threads import together

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from ..smtp.model import Lookup

EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no fragmented UDP


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
