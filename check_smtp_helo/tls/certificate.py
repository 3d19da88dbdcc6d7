"""What the handshake settled and what the server's certificate says: TLSInfo."""

from __future__ import annotations

import _ssl
import socket
import time

from ..core.text import printable, shown
from .der import days_from_civil, parse_certificate

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    import ssl

# getpeercert()'s attribute names, as the DER reader shortens them
_SHORT = {"commonName": "CN", "countryName": "C", "localityName": "L",
          "stateOrProvinceName": "ST", "organizationName": "O",
          "organizationalUnitName": "OU"}  # fmt: skip
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# ssl.SSLSocket.version() -> the version as --min-tls spells it
VERSIONS = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}


class TLSInfo:
    """The negotiated protocol and cipher, and the server certificate's facts.

    `unreadable` says why the facts could not be read; then there are none to judge, and
    the check says so (UNKNOWN), never OK. `meets_minimum` says whether the session is at
    least --min-tls: nothing secret may be sent over a session below it. `chain` holds the
    facts of every certificate the server sent, its own first; `kind` names the key type
    when each is judged (--all-certificates), and `others` the sessions for the other types."""

    def __init__(self, tls: ssl.SSLSocket, verified: bool, min_version: str = "1.2") -> None:
        self.version = tls.version() or "TLS"
        self.cipher, _protocol, self.bits = tls.cipher() or ("?", "", 0)
        self.verified = verified
        self.min_version = min_version
        number = VERSIONS.get(self.version)
        self.number = number or self.version
        self.meets_minimum = number is not None and _version_key(number) >= _version_key(
            min_version
        )
        self.subject = self.issuer = ""
        self.alt_names: list[str] = []
        self.not_before: float | None = None
        self.not_after: float | None = None
        self.unreadable: str | None = None
        self.kind: str | None = None
        self.lowered: str | None = None  # why the handshake needed security level 0
        self.others: list[OtherCertificate] = []
        sent = chain(tls, "get_unverified_chain")
        # DER, the server's own first: what DANE matches (the leaf alone on Python 3.9)
        self.certificates = sent or [der for der in [tls.getpeercert(binary_form=True)] if der]
        self.chain: list[dict] = []
        try:
            facts = _peer_facts(tls, verified)
            self.chain = [_facts_of(der, index) for index, der in enumerate(self.certificates)]
        except ValueError as exc:
            self.unreadable = str(exc)
        else:
            self.subject, self.issuer = facts["subject"], facts["issuer"]
            self.alt_names = facts["alt_names"]
            self.not_before, self.not_after = facts["not_before"], facts["not_after"]
        self.chain_sent = len(sent) or None
        self.chain_verified = (len(chain(tls, "get_verified_chain")) or None) if verified else None

    def judged(self) -> list[tuple[str, dict]]:
        """Every certificate to judge, with its name: the server's own and the intermediates
        it sent, of this session and of those for the other key types. A self-signed root
        that the server sends along is left out: the client's own copy is what it trusts."""
        judged = []
        for info in (self, *(other.tls for other in self.others if other.tls)):
            name = f"{info.kind} certificate" if info.kind else "certificate"
            for index, facts in enumerate(info.chain):
                if not index:
                    judged.append((name, facts))
                elif not facts["self_signed"]:
                    judged.append((f"intermediate {facts['subject']}", facts))
        return judged

    def soonest(self) -> tuple[str, dict] | None:
        """The judged certificate that expires first (the server's own on a tie)."""
        judged = self.judged()
        return min(judged, key=lambda item: item[1]["not_after"]) if judged else None

    @property
    def days_left(self) -> float | None:
        soonest = None if self.unreadable else self.soonest()
        return None if soonest is None else (soonest[1]["not_after"] - time.time()) / 86400

    @property
    def starts_in(self) -> float:
        """Seconds until the certificate becomes valid; 0 or less once it is."""
        return 0.0 if self.not_before is None else self.not_before - time.time()


def _facts_of(der: bytes, index: int) -> dict:
    """The facts of the certificate sent at index; ValueError naming it unless it is the leaf."""
    try:
        return parse_certificate(der)
    except ValueError as exc:
        if not index:
            raise
        raise ValueError(f"certificate {index + 1} sent: {exc}") from exc


class OtherCertificate:
    """The handshake for one more key type (--all-certificates): its session, or why there is
    none; `absent` when the server simply holds no certificate of that type."""

    def __init__(self, kind: str, tls: TLSInfo | None, reason: str = "", absent: bool = False):
        self.kind = kind
        self.tls = tls
        self.reason = reason
        self.absent = absent


def _version_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def _peer_facts(tls: ssl.SSLSocket, verified: bool) -> dict:
    """The certificate's facts: from OpenSSL (getpeercert) for a verified certificate; for
    an unverified one, where getpeercert() gives nothing, from our DER reader."""
    if verified:
        return _from_getpeercert(tls.getpeercert() or {})
    der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError("the server sent none")
    return parse_certificate(der)


def _from_getpeercert(cert: dict) -> dict:
    if "notAfter" not in cert:
        raise ValueError("it has no expiry date")
    return {
        "subject": _openssl_name(cert.get("subject", ())),
        "issuer": _openssl_name(cert.get("issuer", ())),
        "alt_names": [
            f"DNS:{_text(value)}" if kind == "DNS" else f"IP:{_address(value)}"
            for kind, value in cert.get("subjectAltName", ())
            if kind in ("DNS", "IP Address")
        ],
        "not_before": _openssl_time(cert["notBefore"]) if "notBefore" in cert else None,
        "not_after": _openssl_time(cert["notAfter"]),
    }


def _openssl_name(rdns: tuple) -> str:
    """getpeercert()'s name as 'CN=mx.example.com, O=Example', as the DER reader words it."""
    return ", ".join(f"{_SHORT.get(key, key)}={_text(value)}" for rdn in rdns for key, value in rdn)


def _text(value: str) -> str:
    """A string from getpeercert() made safe as the DER reader makes raw bytes."""
    return printable(value.encode("utf-8", "replace"))


def _address(text: str) -> str:
    """An address from getpeercert() as inet_ntop writes it (OpenSSL spells IPv6 in full)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except OSError:
            continue
    return text


def _openssl_time(text: str) -> int:
    """'Jun  1 12:00:00 2026 GMT' (OpenSSL's form in getpeercert) as seconds since the epoch;
    what ssl.cert_time_to_seconds does, without importing _strptime, locale and calendar."""
    try:
        month, day, clock, year, zone = text.split()
        hour, minute, second = (int(part) for part in clock.split(":"))
        days = days_from_civil(int(year), _MONTHS.index(month) + 1, int(day))
    except ValueError as exc:
        raise ValueError(f"time {shown(text)} is not a time") from exc
    if zone != "GMT":
        raise ValueError(f"time {shown(text)} is not in UTC")
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def chain(tls: ssl.SSLSocket, method: str) -> list[bytes]:
    """A chain as DER: public on SSLSocket from Python 3.13, on its SSLObject from 3.10
    (as _ssl.Certificate objects); empty on 3.9, and where OpenSSL kept none."""
    getter = getattr(tls, method, None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), method, None)
    chain = (getter() if getter else None) or []
    return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain]
