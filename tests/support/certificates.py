"""Certificates made at test time with `cryptography`, including the odd encodings that
real servers send: GeneralizedTime where UTCTime belongs, a 2-byte IP address in the
subjectAltName, a CN without any subjectAltName, chains with an expired intermediate.

`tweak()` rewrites a certificate's DER and signs it again, so that OpenSSL still verifies it.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


class Issued:
    """A certificate with its private key."""

    def __init__(self, der: bytes, key, subject: x509.Name) -> None:
        self.der = der  # kept as bytes: a tweaked one may be more than cryptography reads
        self.key = key
        self.subject = subject

    @property
    def pem(self) -> bytes:
        return ssl.DER_cert_to_PEM_cert(self.der).encode()

    def write_key(self, path: Path) -> None:
        path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    names: tuple[str, ...] | None = (),
    not_before: datetime.datetime = NOW - 30 * DAY,
    not_after: datetime.datetime = NOW + 90 * DAY,
    rsa_key: bool = False,
) -> Issued:
    """A certificate for common_name, signed by issuer (self-signed without one). names go
    into the subjectAltName (IP addresses as such); None leaves the extension out."""
    key = (
        rsa.generate_private_key(65537, 2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "check_smtp_helo tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    if names is not None and not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names or (common_name,)]),
            critical=False,
        )
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.DER), key, subject)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


# DER as a tree: (tag, bytes) for a primitive element, (tag, [children]) for a constructed one.


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _read(der: bytes, pos: int = 0) -> tuple[tuple, int]:
    tag, size = der[pos], der[pos + 1]
    pos += 2
    if size & 0x80:
        count = size & 0x7F
        size = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    body = der[pos : pos + size]
    if tag & 0x20:
        children, at = [], 0
        while at < len(body):
            child, at = _read(body, at)
            children.append(child)
        return (tag, children), pos + size
    return (tag, body), pos + size


def _write(node: tuple) -> bytes:
    tag, body = node
    if isinstance(body, list):
        body = b"".join(_write(child) for child in body)
    return bytes([tag]) + _length(len(body)) + body


def _walk(node: tuple, change: Callable[[int, bytes], tuple[int, bytes] | None]) -> tuple:
    tag, body = node
    if isinstance(body, list):
        return tag, [_walk(child, change) for child in body]
    return change(tag, body) or node


def _walk_octets(node: tuple, change) -> tuple:
    """_walk, also inside OCTET STRINGs that hold DER (extension values)."""
    tag, body = node
    if tag == 0x04 and body[:1] == b"\x30":
        try:
            inner, end = _read(body)
        except IndexError:
            return node
        if end == len(body):
            return tag, _write(_walk_octets(inner, change))
    if isinstance(body, list):
        return tag, [_walk_octets(child, change) for child in body]
    return change(tag, body) or node


def tweak(
    issued: Issued, signer: Issued | None, change: Callable[[int, bytes], tuple[int, bytes] | None]
) -> Issued:
    """The certificate with change() applied to each primitive element of its TBS part (and
    of its extension values), signed again by signer (itself when None)."""
    (tag, (tbs, algorithm, _signature)), _end = _read(issued.der)
    new_tbs = _write(_walk_octets(tbs, change))
    key = (signer or issued).key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA256())
    der = _write((tag, [_read(new_tbs)[0], algorithm, (0x03, b"\x00" + signature)]))
    return Issued(der, issued.key, issued.subject)


def utc_time(moment: datetime.datetime) -> bytes:
    return moment.strftime("%y%m%d%H%M%SZ").encode()


def as_generalized_time(moment: datetime.datetime, seconds: bool = True):
    """A change for tweak(): this UTCTime becomes a GeneralizedTime; without seconds (the
    moment has none), a form OpenSSL verifies no more but an unverified peer may send."""
    wanted = utc_time(moment)
    form = "%Y%m%d%H%M%SZ" if seconds else "%Y%m%d%H%MZ"

    def change(tag: int, body: bytes):
        if tag == 0x17 and body == wanted:
            return 0x18, moment.strftime(form).encode()
        return None

    return change


def server_context(tmp: Path, leaf: Issued, *chain: Issued, **limits) -> ssl.SSLContext:
    """A server SSLContext that sends leaf and chain; limits are set on the context
    (minimum_version, maximum_version, ciphers via set_ciphers, verify_mode)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "chain.pem").write_bytes(b"".join(c.pem for c in (leaf, *chain)))
    leaf.write_key(tmp / "key.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    ciphers = limits.pop("ciphers", None)
    if ciphers:
        context.set_ciphers(ciphers)
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, value in limits.items():
            setattr(context, name, value)
    return context


def write_pem(path: Path, *certificates: Issued) -> str:
    path.write_bytes(b"".join(c.pem for c in certificates))
    return str(path)
