"""TLS for the conversation: the client context, the handshake, and what the certificate says.

Imported only when a TLS option is given: `ssl` costs start-up time that a plain check
should not pay. Nothing here knows about Nagios.
"""

from __future__ import annotations

import os
import socket
import ssl
import time

from .base import HandshakeError, printable
from .names import shown

_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
          "2.5.4.11": "OU"}  # fmt: skip
_SUBJECT_ALT_NAME = "2.5.29.17"
# What OpenSSL says when the peer's first bytes are not TLS, e.g. a "220 ..." banner
PLAINTEXT_SIGNS = ("wrong version number", "record layer failure", "packet length too long")


class TLSPolicy:
    """How to do TLS: implicit or STARTTLS, the name to send and verify, the CAs to trust."""

    def __init__(
        self,
        *,
        implicit: bool,
        server_name: str | None,
        verify: bool = True,
        ca_file: str | None = None,
    ) -> None:
        self.implicit = implicit
        self.server_name = server_name
        self.verify = verify
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if verify:
            _trust_system_cas(self.context)
            if ca_file:
                try:
                    self.context.load_verify_locations(cafile=ca_file)
                except ssl.SSLError as exc:
                    reason = _ssl_reason(exc)
                    raise ValueError(f"cannot use --ca-file {shown(ca_file)}: {reason}") from exc
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    raise ValueError(f"cannot use --ca-file {shown(ca_file)}: {reason}") from exc
        else:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE

    def handshake(self, sock: socket.socket, host: str, timeout: float) -> ssl.SSLSocket:
        """TLS over a connected socket; HandshakeError or socket.timeout when it fails."""
        # bytes, not str: ssl encodes a str name with the idna codec, importing it (~4 ms);
        # the name is ASCII already (an IDNA name was converted when the options were read)
        name = (self.server_name or host).encode("ascii")
        tls = self.context.wrap_socket(sock, server_hostname=name, do_handshake_on_connect=False)
        tls.settimeout(timeout)
        try:
            tls.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            tls.close()
            raise HandshakeError(f"TLS certificate not trusted: {exc.verify_message}") from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError) as exc:
            tls.close()
            raise HandshakeError("TLS handshake failed: server closed the connection") from exc
        except ssl.SSLError as exc:
            tls.close()
            reason = _ssl_reason(exc)
            if self.implicit and reason in PLAINTEXT_SIGNS:
                reason += " (is it plain SMTP? use -S for STARTTLS, or no TLS option)"
            raise HandshakeError(f"TLS handshake failed: {reason}") from exc
        except socket.timeout:
            tls.close()
            raise
        except OSError as exc:
            tls.close()
            raise HandshakeError(f"TLS handshake failed: {exc.strerror or exc}") from exc
        return tls

    def describe(self, tls: ssl.SSLSocket) -> TLSInfo:
        """What the handshake settled and what the server's certificate says."""
        return TLSInfo(tls, self.verify)


def _trust_system_cas(context: ssl.SSLContext) -> None:
    """The system's CAs, from the hashed CA directory, which OpenSSL reads lazily (a CA when
    a chain needs it), not the whole bundle (~40 ms a run). SSL_CERT_FILE is loaded as well,
    unless it lives in that directory: then it is update-ca-certificates' concatenation of
    the same CAs (Debian's /etc/ssl/certs/ca-certificates.crt)."""
    paths = ssl.get_default_verify_paths()
    if not (paths.capath and os.path.isdir(paths.capath)):
        context.load_default_certs()
        return
    context.load_verify_locations(capath=paths.capath)
    bundle = os.environ.get(paths.openssl_cafile_env)
    directory = os.path.realpath(paths.capath)
    if bundle and os.path.dirname(os.path.realpath(bundle)) != directory:
        context.load_verify_locations(cafile=bundle)


def _ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code in words: WRONG_VERSION_NUMBER -> 'wrong version number'."""
    return (exc.reason or str(exc)).replace("_", " ").lower()


class TLSInfo:
    """The negotiated protocol and cipher, and the server certificate's facts."""

    def __init__(self, tls: ssl.SSLSocket, verified: bool) -> None:
        self.version = tls.version() or "TLS"
        self.cipher, _protocol, self.bits = tls.cipher() or ("?", "", 0)
        self.verified = verified
        try:
            certificate = parse_certificate(tls.getpeercert(binary_form=True) or b"")
        except (ValueError, IndexError):  # an unverified peer may send anything
            certificate = {}
        self.subject = certificate.get("subject", "")
        self.issuer = certificate.get("issuer", "")
        self.alt_names = certificate.get("alt_names", [])
        self.not_after = certificate.get("not_after")
        self.days_left = None if self.not_after is None else (self.not_after - time.time()) / 86400
        self.chain_sent = _chain_length(tls, "get_unverified_chain")
        self.chain_verified = _chain_length(tls, "get_verified_chain") if verified else None


def _chain_length(tls: ssl.SSLSocket, method: str) -> int | None:
    """Length of a chain: public on SSLSocket from Python 3.13, on its SSLObject before."""
    getter = getattr(tls, method, None) or getattr(getattr(tls, "_sslobj", None), method, None)
    chain = getter() if getter else None
    return len(chain) if chain is not None else None


# A few dozen lines of DER reading, so that an unverified certificate (getpeercert() is then
# empty) is described exactly like a verified one.


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at pos."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("DER element runs past the end")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _element(der, start)
        items.append(item)
        start = item[2]
    return items


def _oid(value: bytes) -> str:
    parts = [value[0] // 40, value[0] % 40]
    number = 0
    for byte in value[1:]:
        number = number << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(map(str, parts))


def _name(der: bytes, start: int, end: int) -> str:
    """An X.501 Name as 'CN=mx.example.com, O=Example'."""
    parts = []
    for _set, set_start, set_end in _children(der, start, end):
        for _seq, seq_start, seq_end in _children(der, set_start, set_end):
            (_, os_, oe), (_, vs, ve) = _children(der, seq_start, seq_end)[:2]
            oid = _oid(der[os_:oe])
            parts.append(f"{_NAMES.get(oid, oid)}={printable(der[vs:ve])}")
    return ", ".join(parts)


def _time(der: bytes, tag: int, start: int, end: int) -> int:
    """UTCTime (0x17) or GeneralizedTime (0x18) as seconds since the epoch."""
    text = der[start:end].decode("ascii").rstrip("Z")
    if tag == 0x17:
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(4, 14, 2))
    days = days_from_civil(int(text[:4]), month, day)
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm); what
    calendar.timegm computes, without importing calendar, datetime and locale."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _alt_names(der: bytes, start: int, end: int) -> list[str]:
    names = []
    for tag, s, e in _children(der, *_element(der, start)[1:]):
        if tag == 0x82:
            names.append(f"DNS:{printable(der[s:e])}")
        elif tag == 0x87:
            family = socket.AF_INET if e - s == 4 else socket.AF_INET6
            names.append(f"IP:{socket.inet_ntop(family, der[s:e])}")
    return names


def parse_certificate(der: bytes) -> dict:
    """Subject, issuer, alternative names and notAfter of a DER certificate."""
    if not der:
        return {}
    _tag, start, end = _element(der, 0)
    _tag, tbs_start, tbs_end = _children(der, start, end)[0]
    fields = _children(der, tbs_start, tbs_end)
    if fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    _serial, _algorithm, issuer, validity, subject = fields[:5]
    _not_before, not_after = _children(der, validity[1], validity[2])
    facts = {
        "issuer": _name(der, issuer[1], issuer[2]),
        "subject": _name(der, subject[1], subject[2]),
        "not_after": _time(der, *not_after),
        "alt_names": [],
    }
    for tag, s, _end in fields[5:]:
        if tag != 0xA3:
            continue
        for _ext, ext_start, ext_end in _children(der, *_element(der, s)[1:]):
            parts = _children(der, ext_start, ext_end)
            if _oid(der[parts[0][1] : parts[0][2]]) == _SUBJECT_ALT_NAME:
                facts["alt_names"] = _alt_names(der, parts[-1][1], parts[-1][2])
    return facts
