"""OpenSSL's failures in words, and the error of a failed handshake. Imports no ssl: the
conversation and the domain probes name these without paying for it."""

from __future__ import annotations

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    import ssl

NOT_TRUSTED = "TLS certificate not trusted"  # starts the reason of a failed verification


class HandshakeError(Exception):
    """A TLS handshake that failed; the text says why, naming TLS. `code` is OpenSSL's reason
    (WRONG_VERSION_NUMBER, CA_MD_TOO_WEAK...): what decides whether another try may help."""

    def __init__(self, text: str, code: str = "") -> None:
        super().__init__(text)
        self.code = code


# Verification failures that only the security level makes: a key or digest too weak for it
TOO_WEAK = {66: "EE_KEY_TOO_SMALL", 67: "CA_KEY_TOO_SMALL", 68: "CA_MD_TOO_WEAK"}
# What a handshake at security level 0 gets past: the MD5/SHA-1 handshake signature of
# TLS 1.0 and 1.1, and the weak keys and digests that the checks judge in words themselves
LOWER_LEVEL_HELPS = {"LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED", *TOO_WEAK.values()}
# What a server says when it has no certificate for the cipher suites offered (or cannot go
# down to TLS 1.2, where the suite chooses the certificate)
NO_SUCH_CERTIFICATE = {"SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_PROTOCOL_VERSION",
                       "NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE"}  # fmt: skip


# OpenSSL's reason codes in words. The raw reason is logged (-vv).
PLAINTEXT = "unexpected data instead of TLS"
_WORDS = {
    "WRONG_VERSION_NUMBER": PLAINTEXT,
    "RECORD_LAYER_FAILURE": PLAINTEXT,
    "PACKET_LENGTH_TOO_LONG": PLAINTEXT,
    "BAD_RECORD_TYPE": PLAINTEXT,
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
CLOSED = "server closed the TLS session"


def reason_code(exc: ssl.SSLError) -> str:
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


def ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code in words: NO_CERTIFICATE_OR_CRL_FOUND -> 'no certificate ...'."""
    return reason_code(exc).replace("_", " ").lower()


def words(exc: ssl.SSLError) -> str:
    """An OpenSSL failure as a person would say it; never a source line of _ssl.c."""
    code = reason_code(exc)
    return _WORDS.get(code, code.replace("_", " ").lower())
