"""TLS for the conversation: the client context, the handshake, and what the certificate says.

Imported only when a TLS option is given: `ssl` costs start-up time that a plain check
should not pay. Nothing here knows about Nagios.
"""

from __future__ import annotations

import _ssl
import logging
import os
import socket
import ssl
import time
import warnings

from .base import NOT_TRUSTED, HandshakeError, printable
from .names import shown

_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
          "2.5.4.11": "OU"}  # fmt: skip
# getpeercert()'s attribute names, as the DER reader shortens them
_SHORT = {"commonName": "CN", "countryName": "C", "localityName": "L",
          "stateOrProvinceName": "ST", "organizationName": "O",
          "organizationalUnitName": "OU"}  # fmt: skip
_SUBJECT_ALT_NAME = "2.5.29.17"
# Key algorithms (RFC 3279, 5480, 8410) and the named curves' sizes
_KEYS = {"1.2.840.113549.1.1.1": "RSA", "1.2.840.113549.1.1.10": "RSA-PSS",
         "1.2.840.10045.2.1": "EC", "1.2.840.10040.4.1": "DSA", "1.3.101.112": "Ed25519",
         "1.3.101.113": "Ed448"}  # fmt: skip
_CURVES = {"1.2.840.10045.3.1.7": ("P-256", 256), "1.3.132.0.34": ("P-384", 384),
           "1.3.132.0.35": ("P-521", 521), "1.3.132.0.33": ("P-224", 224),
           "1.2.840.10045.3.1.1": ("P-192", 192), "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", 256),
           "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", 384),
           "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", 512)}  # fmt: skip
_EDWARDS_BITS = {"Ed25519": 256, "Ed448": 456}
# Signature algorithms (RFC 3279, 4055, 5758, 8410) in words
_SIGNATURES = {
    "1.2.840.113549.1.1.2": "MD2 with RSA", "1.2.840.113549.1.1.4": "MD5 with RSA",
    "1.2.840.113549.1.1.5": "SHA-1 with RSA", "1.3.14.3.2.29": "SHA-1 with RSA",
    "1.2.840.113549.1.1.14": "SHA-224 with RSA", "1.2.840.113549.1.1.11": "SHA-256 with RSA",
    "1.2.840.113549.1.1.12": "SHA-384 with RSA", "1.2.840.113549.1.1.13": "SHA-512 with RSA",
    "1.2.840.113549.1.1.10": "RSA-PSS", "1.2.840.10045.4.1": "SHA-1 with ECDSA",
    "1.2.840.10045.4.3.1": "SHA-224 with ECDSA", "1.2.840.10045.4.3.2": "SHA-256 with ECDSA",
    "1.2.840.10045.4.3.3": "SHA-384 with ECDSA", "1.2.840.10045.4.3.4": "SHA-512 with ECDSA",
    "1.2.840.10040.4.3": "SHA-1 with DSA", "2.16.840.1.101.3.4.3.2": "SHA-256 with DSA",
    "1.3.101.112": "Ed25519", "1.3.101.113": "Ed448",
}  # fmt: skip
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# ssl.SSLSocket.version() -> the version as --min-tls spells it
VERSIONS = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}
# OpenSSL's reason codes in words. The raw reason is logged (-vv).
_PLAINTEXT = "unexpected data instead of TLS"
_WORDS = {
    "WRONG_VERSION_NUMBER": _PLAINTEXT,
    "RECORD_LAYER_FAILURE": _PLAINTEXT,
    "PACKET_LENGTH_TOO_LONG": _PLAINTEXT,
    "BAD_RECORD_TYPE": _PLAINTEXT,
    "UNEXPECTED_EOF_WHILE_READING": "server closed the TLS session",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "server requires a client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "server rejected the client certificate (none was sent: "
    "does it require one?)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "server refused the handshake (no cipher in common, or it "
    "requires a client certificate)",
    "LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED": "server offers only TLS 1.0 or 1.1 with an "
    "MD5/SHA-1 signature, which this client refuses",
    "UNSUPPORTED_PROTOCOL": "server offers only SSL 3.0 or older, which this client refuses",
    "TLSV1_ALERT_PROTOCOL_VERSION": "server refused every version this client offers "
    "(TLS 1.0 to 1.3)",
    "TLSV1_ALERT_INTERNAL_ERROR": "server reported an internal TLS error",
    "TLSV1_UNRECOGNIZED_NAME": "server does not know the name sent in SNI (see --sni)",
}
_CLOSED = "server closed the TLS session"
_NO_ISSUER = 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
_EXPIRED, _NOT_YET_VALID = 10, 9  # X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID
# Verification failures that only the security level makes: a key or digest too weak for it
_TOO_WEAK = {66: "EE_KEY_TOO_SMALL", 67: "CA_KEY_TOO_SMALL", 68: "CA_MD_TOO_WEAK"}
# What a handshake at security level 0 gets past: the MD5/SHA-1 handshake signature of
# TLS 1.0 and 1.1, and the weak keys and digests that this plugin judges in words itself
LOWER_LEVEL_HELPS = {"LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED", *_TOO_WEAK.values()}
# What a server says when it has no certificate for the cipher suites offered (or cannot go
# down to TLS 1.2, where the suite chooses the certificate)
NO_SUCH_CERTIFICATE = {"SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_PROTOCOL_VERSION",
                       "NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE"}  # fmt: skip
_TLS_VERSION = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}  # fmt: skip


class TLSPolicy:
    """How to do TLS: implicit or STARTTLS, the name to send and verify, the CAs to trust,
    the lowest version that counts as good, and what else to try (--refuse-tls-below,
    --all-certificates).

    A policy for one more handshake is derive()d: at security level 0 (`legacy`), capped at
    exactly one version (`only`), or with one key type's cipher suites (`kind`: RSA, ECDSA)."""

    def __init__(
        self,
        *,
        implicit: bool,
        server_name: str | None,
        verify: bool = True,
        ca_file: str | None = None,
        min_version: str = "1.2",
        refuse_below: str | None = None,
        all_certificates: bool = False,
        legacy: bool = False,
        only: str | None = None,
        kind: str | None = None,
    ) -> None:
        self.implicit = implicit
        self.server_name = server_name
        self.verify = verify
        self.ca_file = ca_file
        self.min_version = min_version
        self.refuse_below = refuse_below
        self.all_certificates = all_certificates
        self.legacy = legacy
        self.kind = kind
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Down to TLS 1.0, so that an old server is reported (below --min-tls), not merely
        # refused; OpenSSL's DEFAULT list has the CBC ciphers those servers speak. The
        # system's security level applies, unless a handshake needs level 0 (legacy).
        with warnings.catch_warnings():  # deprecated indeed: that is what --min-tls judges
            warnings.simplefilter("ignore", DeprecationWarning)
            self.context.minimum_version = _TLS_VERSION[only or "1.0"]
            if only or kind:  # a key type's suites choose the certificate up to TLS 1.2 only
                self.context.maximum_version = _TLS_VERSION[only or "1.2"]
        ciphers = f"a{kind}" if kind else "DEFAULT"
        self.context.set_ciphers(f"{ciphers}:@SECLEVEL=0" if legacy else ciphers)
        if verify:
            # RFC 6125 and every browser: a name must be in the subjectAltName, never the CN
            self.context.hostname_checks_common_name = False
            trust_system_cas(self.context)
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

    def derive(self, *, legacy: bool = False, only: str | None = None,
               kind: str | None = None) -> TLSPolicy:  # fmt: skip
        """This policy for one more handshake (see the class). Capped at one version, it only
        asks whether the server accepts that version: nothing is verified."""
        return TLSPolicy(
            implicit=self.implicit,
            server_name=self.server_name,
            verify=self.verify and only is None,
            ca_file=self.ca_file,
            min_version=self.min_version,
            refuse_below=self.refuse_below,
            all_certificates=self.all_certificates,
            legacy=legacy or self.legacy or only is not None,
            only=only,
            kind=kind,
        )

    def refusal_policies(self) -> list[tuple[str, TLSPolicy]]:
        """A policy capped at each version below --refuse-tls-below, the oldest first."""
        below = _version_key(self.refuse_below or "1.0")
        return [(v, self.derive(only=v)) for v in _TLS_VERSION if _version_key(v) < below]

    def lower_level_helps(self, error: HandshakeError) -> bool:
        """Would a handshake at security level 0 get past this failure?"""
        return not self.legacy and error.code in LOWER_LEVEL_HELPS

    def handshake(
        self,
        sock: socket.socket,
        host: str,
        timeout: float,
        log: logging.Logger | logging.LoggerAdapter,
    ) -> TLSChannel:
        """TLS over a connected socket; HandshakeError or socket.timeout when it fails."""
        # bytes, not str: ssl encodes a str name with the idna codec, importing it (~4 ms);
        # the name is ASCII already (an IDNA name was converted when the options were read).
        # A trailing dot is DNS's root, which SNI and certificates leave out (RFC 6066 3).
        name = (self.server_name or host).removesuffix(".").encode("ascii")
        tls = self.context.wrap_socket(sock, server_hostname=name, do_handshake_on_connect=False)
        tls.settimeout(timeout)
        try:
            tls.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            log.info("TLS: %s", exc)
            reason = _untrusted(exc, tls)
            tls.close()
            code = _TOO_WEAK.get(exc.verify_code, f"VERIFY_{exc.verify_code}")
            raise HandshakeError(f"{NOT_TRUSTED}: {reason}", code) from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError) as exc:
            log.info("TLS: %s", exc)
            tls.close()
            raise HandshakeError(f"TLS handshake failed: {_CLOSED}", "CLOSED") from exc
        except ssl.SSLError as exc:
            log.info("TLS: %s", exc)
            tls.close()
            reason = words(exc)
            if self.implicit and reason == _PLAINTEXT:
                reason += " (is it plain SMTP? use -S for STARTTLS, or no TLS option)"
            raise HandshakeError(f"TLS handshake failed: {reason}", _reason_code(exc)) from exc
        except socket.timeout:  # TimeoutError is its alias only from Python 3.10 on
            tls.close()
            raise
        except OSError as exc:
            tls.close()
            raise HandshakeError(f"TLS handshake failed: {exc.strerror or exc}") from exc
        return TLSChannel(tls, log)

    def describe(self, channel: TLSChannel) -> TLSInfo:
        """What the handshake settled and what the server's certificates say."""
        info = TLSInfo(channel.tls, self.verify, self.min_version)
        info.kind = self.kind
        return info


class TLSChannel:
    """The TLS socket as the conversation uses it: OpenSSL's errors after the handshake
    (an alert, a close) arrive as an OSError in words; the raw one is logged."""

    def __init__(self, tls: ssl.SSLSocket, log: logging.Logger | logging.LoggerAdapter) -> None:
        self.tls = tls
        self.log = log

    def recv(self, size: int) -> bytes:
        try:
            return self.tls.recv(size)
        except ssl.SSLError as exc:
            raise self._plain(exc) from exc

    def sendall(self, data: bytes) -> None:
        try:
            self.tls.sendall(data)
        except ssl.SSLError as exc:
            raise self._plain(self._alert() or exc) from exc

    def _alert(self) -> ssl.SSLError | None:
        """The alert a server sent before it closed (TLS 1.3 says 'certificate required' so,
        after the handshake), read once a write has failed; within the socket's timeout."""
        try:
            self.tls.recv(1)
        except ssl.SSLError as exc:
            return exc if exc.reason else None
        except OSError:
            pass
        return None

    def _plain(self, exc: ssl.SSLError) -> OSError:
        self.log.info("TLS: %s", exc)
        return OSError(_CLOSED if isinstance(exc, ssl.SSLEOFError) else words(exc))

    def settimeout(self, timeout: float | None) -> None:
        self.tls.settimeout(timeout)

    def getsockname(self):
        return self.tls.getsockname()

    def close(self) -> None:
        self.tls.close()


def trust_system_cas(context: ssl.SSLContext) -> None:
    """The system's CAs where OpenSSL's default paths find them: SSL_CERT_DIR (a list, as
    for OpenSSL) or the built-in directory, and SSL_CERT_FILE or the built-in bundle.

    A directory is read lazily (a CA when a chain needs it); a bundle is parsed whole (about
    25 ms for a distribution's). So the system's own bundle is left out where the system's
    directory has hash links: update-ca-certificates makes that bundle from the same CAs
    (Debian, Ubuntu, SUSE, Alpine). Where it has none (RHEL, Rocky, Alma: /etc/pki/tls/certs
    holds only bundles), the bundle is loaded. Any other bundle is always loaded."""
    paths = ssl.get_default_verify_paths()
    directories = os.environ.get(paths.openssl_capath_env) or paths.openssl_capath
    hashed = set()
    for directory in directories.split(os.pathsep):
        if os.path.isdir(directory):
            context.load_verify_locations(capath=directory)
            if _has_hash_links(directory):
                hashed.add(os.path.realpath(directory))
    bundle = os.environ.get(paths.openssl_cafile_env) or paths.openssl_cafile
    system_bundle = os.path.realpath(paths.openssl_cafile)
    system_hashed = os.path.realpath(paths.openssl_capath) in hashed
    if os.path.isfile(bundle) and not (system_hashed and os.path.realpath(bundle) == system_bundle):
        context.load_verify_locations(cafile=bundle)


def _has_hash_links(directory: str) -> bool:
    """Does the directory hold OpenSSL's subject-hash names (such as 9d6523ce.0)?"""
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if len(name) > 9 and name[8] == "." and name[9:].isdigit():
                try:
                    int(name[:8], 16)
                except ValueError:
                    continue
                return True
    return False


def _reason_code(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code: exc.reason, else read from the text, where this Python's table
    lacks the code (Debian 12's 3.11: '[ssl] legacy sigalg disallowed ... (_ssl.c:992)')."""
    reason = getattr(exc, "reason", None)
    if reason:
        return reason
    text = (exc.strerror or str(exc) or type(exc).__name__).split(" (_ssl.c:", 1)[0]
    if text.startswith("[SSL: ") and "]" in text:
        return text[6 : text.index("]")]
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    return text.replace(" ", "_").upper()


def _ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code in words: NO_CERTIFICATE_OR_CRL_FOUND -> 'no certificate ...'."""
    return _reason_code(exc).replace("_", " ").lower()


def words(exc: ssl.SSLError) -> str:
    """An OpenSSL failure as a person would say it; never a source line of _ssl.c."""
    code = _reason_code(exc)
    return _WORDS.get(code, code.replace("_", " ").lower())


def _untrusted(exc: ssl.SSLCertVerificationError, tls: ssl.SSLSocket) -> str:
    """Why the chain is not trusted, with what the chain the server sent tells."""
    message = exc.verify_message or _ssl_reason(exc)
    if message[1:2].islower():  # 'Hostname mismatch, ...' but 'IP address mismatch, ...'
        message = message[0].lower() + message[1:]
    message = message.rstrip(".")
    chain = _chain(tls, "get_unverified_chain")
    if exc.verify_code == _NO_ISSUER:
        alone = ", no intermediate sent" if len(chain) == 1 else ""
        return f"{message}{alone} (private CA? use --ca-file)"
    if exc.verify_code in (_EXPIRED, _NOT_YET_VALID):
        for der in chain[1:]:
            try:
                facts = parse_certificate(der)
            except ValueError:
                continue
            now = time.time()
            if facts["not_after"] < now:
                return f"intermediate {facts['subject']} expired {ago(now - facts['not_after'])}"
            if facts["not_before"] > now:
                starts = span(facts["not_before"] - now)
                return f"intermediate {facts['subject']} is not valid for another {starts}"
    return message


def _chain(tls: ssl.SSLSocket, method: str) -> list[bytes]:
    """A chain as DER: public on SSLSocket from Python 3.13, on its SSLObject from 3.10
    (as _ssl.Certificate objects); empty on 3.9, and where OpenSSL kept none."""
    getter = getattr(tls, method, None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), method, None)
    chain = (getter() if getter else None) or []
    return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain]


def span(seconds: float) -> str:
    """A span in words at a sensible precision: '3 days', '1 day 4 hours', '1 hour 59 minutes',
    '30 minutes', 'less than a minute'."""
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days >= 2:
        parts = [(days, "day")]
    elif days:
        parts = [(days, "day"), (hours, "hour")]
    elif hours:
        parts = [(hours, "hour"), (minutes, "minute")]
    elif minutes:
        parts = [(minutes, "minute")]
    else:
        return "less than a minute"
    return " ".join(f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count)


def ago(seconds: float) -> str:
    """'2 minutes ago', 'less than a minute ago'."""
    return f"{span(seconds)} ago"


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
        sent = _chain(tls, "get_unverified_chain")
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
        self.chain_verified = (len(_chain(tls, "get_verified_chain")) or None) if verified else None

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


# A few dozen lines of DER reading, so that an unverified certificate (getpeercert() is then
# empty) is described exactly like a verified one. Anything it cannot read is a ValueError.


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at pos."""
    if pos + 2 > len(der):
        raise ValueError("DER element runs past the end")
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > len(der):
            raise ValueError("DER length is not readable")
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("DER element runs past the end")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _element(der, start)
        if item[2] > end:
            raise ValueError("DER element runs past its parent")
        items.append(item)
        start = item[2]
    return items


def _oid(value: bytes) -> str:
    if not value:
        raise ValueError("empty object identifier")
    parts = [min(value[0] // 40, 2), value[0] - 40 * min(value[0] // 40, 2)]
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
            pair = _children(der, seq_start, seq_end)
            if len(pair) < 2:
                raise ValueError("a name attribute without a value")
            (_, os_, oe), (value_tag, vs, ve) = pair[:2]
            oid = _oid(der[os_:oe])
            value = der[vs:ve]
            if value_tag == 0x1E:  # BMPString: UTF-16BE
                value = value.decode("utf-16-be", "replace").encode("ascii", "replace")
            parts.append(f"{_NAMES.get(oid, oid)}={printable(value)}")
    return ", ".join(parts)


def _time(der: bytes, tag: int, start: int, end: int) -> int:
    """UTCTime (0x17) or GeneralizedTime (0x18) as seconds since the epoch; either tag is
    read wherever it stands, with or without seconds, and with fractions of a second."""
    text = der[start:end].decode("ascii", "replace")
    if tag not in (0x17, 0x18) or not text.endswith("Z"):
        raise ValueError(f"time {shown(text)} is not in UTC")
    digits = text[:-1].split(".", 1)[0]
    if tag == 0x17:
        if not digits[:2].isdigit():
            raise ValueError(f"time {shown(text)} is not a time")
        digits = ("19" if int(digits[:2]) >= 50 else "20") + digits
    if len(digits) == 12:
        digits += "00"
    if len(digits) != 14 or not digits.isdigit():
        raise ValueError(f"time {shown(text)} is not a time")
    month, day, hour, minute, second = (int(digits[i : i + 2]) for i in range(4, 14, 2))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(f"time {shown(text)} is not a time")
    days = days_from_civil(int(digits[:4]), month, day)
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def _public_key(der: bytes, start: int, end: int) -> dict:
    """The type and size of a SubjectPublicKeyInfo: RSA by its modulus, EC by its named
    curve, DSA by its prime; a type this reader does not know keeps its OID and no size."""
    (_tag, a_start, a_end), (_bits, k_start, _end) = _children(der, start, end)[:2]
    parameters = _children(der, a_start, a_end)
    oid = _oid(der[parameters[0][1] : parameters[0][2]])
    kind, bits, curve = _KEYS.get(oid, oid), None, ""
    if kind in ("RSA", "RSA-PSS"):  # BIT STRING: unused bits, then SEQUENCE {n, e}
        _tag, n_start, n_end = _children(der, *_element(der, k_start + 1)[1:])[0]
        bits = int.from_bytes(der[n_start:n_end], "big").bit_length()
    elif kind == "EC" and len(parameters) > 1 and parameters[1][0] == 0x06:
        named = _oid(der[parameters[1][1] : parameters[1][2]])
        curve, bits = _CURVES.get(named, (named, None))
    elif kind == "DSA" and len(parameters) > 1:  # Dss-Parms {p, q, g}
        _tag, p_start, p_end = _children(der, parameters[1][1], parameters[1][2])[0]
        bits = int.from_bytes(der[p_start:p_end], "big").bit_length()
    else:
        bits = _EDWARDS_BITS.get(kind)
    return {"key_type": kind, "key_bits": bits, "curve": curve}


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
    """DNS names and IP addresses of a subjectAltName; an address that is neither 4 nor 16
    bytes is shown as OpenSSL does ('<invalid>') rather than making the whole unreadable."""
    names = []
    for tag, s, e in _children(der, *_element(der, start)[1:]):
        if tag == 0x82:
            names.append(f"DNS:{printable(der[s:e])}")
        elif tag == 0x87:
            family = {4: socket.AF_INET, 16: socket.AF_INET6}.get(e - s)
            names.append(f"IP:{socket.inet_ntop(family, der[s:e])}" if family else "IP:<invalid>")
    return names


def parse_certificate(der: bytes) -> dict:
    """Subject, issuer, alternative names, notBefore and notAfter of a DER certificate, its
    key (key_type such as RSA or EC, key_bits, curve), its signature algorithm in words and
    whether it is self-signed; ValueError saying what could not be read."""
    try:
        return _parse(der)
    except (IndexError, UnicodeError) as exc:
        raise ValueError(f"not DER ({exc})") from exc


def _tbs_fields(der: bytes) -> list[tuple[int, int, int]]:
    """The fields of a certificate's TBSCertificate, without the explicit version: serial,
    signature algorithm, issuer, validity, subject, public key info, extensions..."""
    _tag, start, end = _element(der, 0)
    _tag, tbs_start, tbs_end = _children(der, start, end)[0]
    fields = _children(der, tbs_start, tbs_end)
    return fields[1:] if fields[0][0] == 0xA0 else fields


def public_key_info(der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a DER certificate (what TLSA selector 1 matches);
    ValueError when it cannot be read."""
    try:
        fields = _tbs_fields(der)
        return der[fields[4][2] : fields[5][2]]  # from the end of the subject, header included
    except IndexError as exc:
        raise ValueError(f"not DER ({exc})") from exc


def _parse(der: bytes) -> dict:
    fields = _tbs_fields(der)
    _serial, _algorithm, issuer, validity, subject, key = fields[:6]
    not_before, not_after = _children(der, validity[1], validity[2])[:2]
    _tag, start, end = _element(der, 0)
    algorithm = _children(der, *_children(der, start, end)[1][1:])[0]
    signature = _oid(der[algorithm[1] : algorithm[2]])
    facts = {
        "issuer": _name(der, issuer[1], issuer[2]),
        "subject": _name(der, subject[1], subject[2]),
        "not_before": _time(der, *not_before),
        "not_after": _time(der, *not_after),
        "alt_names": [],
        "signature": _SIGNATURES.get(signature, signature),
        "self_signed": der[issuer[1] : issuer[2]] == der[subject[1] : subject[2]],
        **_public_key(der, key[1], key[2]),
    }
    for tag, s, _end in fields[6:]:
        if tag != 0xA3:
            continue
        for _ext, ext_start, ext_end in _children(der, *_element(der, s)[1:]):
            parts = _children(der, ext_start, ext_end)
            if _oid(der[parts[0][1] : parts[0][2]]) == _SUBJECT_ALT_NAME:
                facts["alt_names"] = _alt_names(der, parts[-1][1], parts[-1][2])
    return facts
