"""Certificates made at test time with `cryptography`, including the odd encodings that
real servers send: GeneralizedTime where UTCTime belongs, a 2-byte IP address in the
subjectAltName, a CN without any subjectAltName, chains with an expired intermediate, and the
weak ones still met: RSA 1024 keys, SHA-1 and MD5 signatures.

`tweak()` rewrites a certificate's DER and signs it again, so that OpenSSL still verifies it;
`resign()` signs it again with another digest (cryptography itself no longer signs with
SHA-1 or MD5, so the algorithm identifiers are rewritten and the TBS part signed as bytes).
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

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write_key(self, path: Path) -> None:
        path.write_bytes(self.key_pem)


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    names: tuple[str, ...] | None = (),
    not_before: datetime.datetime = NOW - 30 * DAY,
    not_after: datetime.datetime = NOW + 90 * DAY,
    rsa_key: bool | int = False,
    curve: ec.EllipticCurve | None = None,
    digest: str = "sha256",
) -> Issued:
    """A certificate for common_name, signed by issuer (self-signed without one). names go
    into the subjectAltName (IP addresses as such); None leaves the extension out. The key is
    EC P-256 (or `curve`), or RSA (2048 bits, or as many as rsa_key says); the signature is
    made with `digest` (sha256, sha1 or md5)."""
    if rsa_key:
        key = rsa.generate_private_key(65537, 2048 if rsa_key is True else rsa_key)
    else:
        key = ec.generate_private_key(curve or ec.SECP256R1())
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
    issued = Issued(cert.public_bytes(serialization.Encoding.DER), key, subject)
    return issued if digest == "sha256" else resign(issued, issuer, digest)


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


# signature algorithm identifiers (RFC 3279, RFC 4055, RFC 5758) by key type and digest
_SIGNATURES = {
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("rsa", "sha1"): "1.2.840.113549.1.1.5",
    ("rsa", "md5"): "1.2.840.113549.1.1.4",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha1"): "1.2.840.10045.4.1",
}
_DIGESTS = {"sha256": hashes.SHA256, "sha1": hashes.SHA1, "md5": hashes.MD5}


def _oid_der(dotted: str) -> bytes:
    numbers = [int(part) for part in dotted.split(".")]
    body = bytes([40 * numbers[0] + numbers[1]])
    for number in numbers[2:]:
        groups, rest = [number & 0x7F], number >> 7
        while rest:
            groups.append(0x80 | rest & 0x7F)
            rest >>= 7
        body += bytes(reversed(groups))
    return body


def resign(issued: Issued, signer: Issued | None, digest: str) -> Issued:
    """The certificate signed again by signer (itself when None) with digest: sha256, sha1
    or md5 (md5 with RSA only)."""
    key = (signer or issued).key
    kind = "ec" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"
    old = {_oid_der(oid) for (k, _d), oid in _SIGNATURES.items() if k == kind}
    new = _oid_der(_SIGNATURES[kind, digest])
    (tag, (tbs, algorithm, _signature)), _end = _read(issued.der)

    def change(element_tag: int, body: bytes):
        return (0x06, new) if element_tag == 0x06 and body in old else None

    new_tbs = _write(_walk(tbs, change))
    new_algorithm = _walk(algorithm, change)
    hashed = _DIGESTS[digest]()
    if kind == "ec":
        signature = key.sign(new_tbs, ec.ECDSA(hashed))
    else:
        signature = key.sign(new_tbs, padding.PKCS1v15(), hashed)
    der = _write((tag, [_read(new_tbs)[0], new_algorithm, (0x03, b"\x00" + signature)]))
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
    ciphers = limits.pop("ciphers", None)
    if ciphers:  # first: @SECLEVEL=0 is what lets OpenSSL load an RSA 1024 key at all
        context.set_ciphers(ciphers)
    context.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, value in limits.items():
            setattr(context, name, value)
    return context


def write_pem(path: Path, *certificates: Issued) -> str:
    path.write_bytes(b"".join(c.pem for c in certificates))
    return str(path)
