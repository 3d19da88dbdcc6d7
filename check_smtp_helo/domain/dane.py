"""DANE for SMTP (RFC 7672): the TLSA records of an MX host, and whether a chain matches them."""

from __future__ import annotations

import hashlib

DANE_USAGES, DANE_SELECTORS = (2, 3), (0, 1)  # RFC 7672 3.1: DANE-TA, DANE-EE; cert, SPKI
DIGESTS = {0: None, 1: "sha256", 2: "sha512"}  # TLSA matching types: full, SHA-256, SHA-512


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


def dane_matches(records: list[tuple[int, int, int, bytes]], chain: list[bytes],
                 names: list[str], host: str) -> bool:  # fmt: skip
    """Does the chain the server sent (leaf first, whose DNS names are given) match a record
    (RFC 7672 3.1)? DANE-EE (3) matches the leaf, with no name check; DANE-TA (2) a
    certificate above the leaf, and then the leaf must name the host."""
    from ..tls.der import public_key_info  # noqa: PLC0415 -- the import policy

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
