"""How to do TLS: the client context, the handshake, and the TLS socket the conversation uses."""

from __future__ import annotations

import logging
import socket
import ssl
import time
import warnings

from ..core.text import ago, shown, span
from .certificate import TLSInfo, chain
from .der import parse_certificate
from .errors import (
    CLOSED,
    LOWER_LEVEL_HELPS,
    NOT_TRUSTED,
    PLAINTEXT,
    TOO_WEAK,
    HandshakeError,
    reason_code,
    ssl_reason,
    words,
)
from .trust import trust_system_cas

_NO_ISSUER = 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
_EXPIRED, _NOT_YET_VALID = 10, 9  # X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID
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
                    reason = ssl_reason(exc)
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
        versions = list(_TLS_VERSION)
        below = versions[: versions.index(self.refuse_below or "1.0")]
        return [(version, self.derive(only=version)) for version in below]

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
        # bytes, not str: ssl encodes a str name with the idna codec, importing it;
        # the name is ASCII already (an IDNA name was converted when the options were read).
        # A trailing dot is DNS's root, which SNI and certificates leave out (RFC 6066 3).
        try:
            name = (self.server_name or host).removesuffix(".").encode("ascii")
            tls = self.context.wrap_socket(
                sock, server_hostname=name, do_handshake_on_connect=False
            )
        except (ValueError, ssl.SSLError) as exc:  # a name that cannot be a TLS server name
            raise HandshakeError(f"TLS not started: {exc}") from exc
        tls.settimeout(timeout)
        try:
            tls.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            log.info("TLS: %s", exc)
            reason = _untrusted(exc, tls)
            tls.close()
            code = TOO_WEAK.get(exc.verify_code, f"VERIFY_{exc.verify_code}")
            raise HandshakeError(f"{NOT_TRUSTED}: {reason}", code) from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError) as exc:
            log.info("TLS: %s", exc)
            tls.close()
            raise HandshakeError(f"TLS handshake failed: {CLOSED}", "CLOSED") from exc
        except ssl.SSLError as exc:
            log.info("TLS: %s", exc)
            tls.close()
            reason = words(exc)
            if self.implicit and reason == PLAINTEXT:
                reason += " (is it plain SMTP? use -S for STARTTLS, or no TLS option)"
            raise HandshakeError(f"TLS handshake failed: {reason}", reason_code(exc)) from exc
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
        return OSError(CLOSED if isinstance(exc, ssl.SSLEOFError) else words(exc))

    def settimeout(self, timeout: float | None) -> None:
        self.tls.settimeout(timeout)

    def getsockname(self):
        return self.tls.getsockname()

    def close(self) -> None:
        self.tls.close()


def _untrusted(exc: ssl.SSLCertVerificationError, tls: ssl.SSLSocket) -> str:
    """Why the chain is not trusted, with what the chain the server sent tells."""
    message = exc.verify_message or ssl_reason(exc)
    if message[1:2].islower():  # 'Hostname mismatch, ...' but 'IP address mismatch, ...'
        message = message[0].lower() + message[1:]
    message = message.rstrip(".")
    sent = chain(tls, "get_unverified_chain")
    if exc.verify_code == _NO_ISSUER:
        alone = ", no intermediate sent" if len(sent) == 1 else ""
        return f"{message}{alone} (private CA? use --ca-file)"
    if exc.verify_code in (_EXPIRED, _NOT_YET_VALID):
        for der in sent[1:]:
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
