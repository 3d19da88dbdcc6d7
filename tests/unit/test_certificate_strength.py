"""Keys and signatures as the plugin judges them: the DER reader's key type, size and signature
algorithm (no `cryptography` in the plugin), and the key sizes each type must reach."""

from __future__ import annotations

from types import SimpleNamespace

import nagiosplugin
import pytest
from certificates import issue
from cryptography.hazmat.primitives.asymmetric import ec

from check_smtp_helo.checks.contexts import StrengthContext
from check_smtp_helo.tls.der import parse_certificate


@pytest.fixture(scope="module")
def root():
    return issue("check_smtp_helo Unit Root", ca=True, rsa_key=True)


@pytest.mark.parametrize(
    ("options", "key", "signature"),
    [
        ({"rsa_key": 1024}, ("RSA", 1024, ""), "SHA-256 with RSA"),
        ({"rsa_key": 3072, "digest": "sha1"}, ("RSA", 3072, ""), "SHA-1 with RSA"),
        ({"rsa_key": False}, ("EC", 256, "P-256"), "SHA-256 with RSA"),
        ({"rsa_key": False, "curve": ec.SECP521R1()}, ("EC", 521, "P-521"), "SHA-256 with RSA"),
    ],
)
def test_der_reader_reads_key_and_signature(root, options, key, signature):
    facts = parse_certificate(issue("localhost", issuer=root, **options).der)
    assert (facts["key_type"], facts["key_bits"], facts["curve"]) == key
    assert facts["signature"] == signature
    ecdsa_root = issue("EC Root", ca=True, digest="sha1")
    assert parse_certificate(ecdsa_root.der)["signature"] == "SHA-1 with ECDSA"


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        (("EC", 224), "certificate key is EC 224 bits, below 256"),
        (("EC", 256), None),
        (("RSA", 2047), "certificate key is RSA 2047 bits, below 2048"),
        (("DSA", 1024), "certificate key is DSA 1024 bits, below 2048"),
        (("Ed25519", 256), None),
        (("1.2.3.4", None), None),  # a key type the reader does not know is not judged
    ],
)
def test_key_sizes_are_judged_by_type(key, hint):
    """A unit: the sizes that P-224 and DSA servers (which no TLS 1.3 test server can be) get."""
    facts = {"key_type": key[0], "key_bits": key[1], "signature": "SHA-256 with RSA"}
    tls = SimpleNamespace(unreadable=None, judged=lambda: [("certificate", facts)])
    metric = nagiosplugin.Metric("cert_strength", tls, context="strength")
    result = StrengthContext().evaluate(metric, None)
    assert (result.state, result.hint) == (nagiosplugin.Warn if hint else nagiosplugin.Ok, hint)
