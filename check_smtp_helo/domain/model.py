"""What DNS says about a mail domain: its MX hosts, their addresses and TLSA records, and the
MTA-STS policy."""

from __future__ import annotations

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from .dane import TLSA
    from .dns import DNSError


class MXHost:
    """One MX host (or the -H host): its name, preference, addresses and TLSA records."""

    def __init__(self, name: str, preference: int | None) -> None:
        self.name = name
        self.preference = preference
        self.addresses: list[str] = []
        self.error: DNSError | None = None  # its addresses could not be looked up
        self.tlsa: TLSA | None = None


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
