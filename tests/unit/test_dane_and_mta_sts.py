"""Pure units of the mail domain: TLSA matching, MTA-STS policies and patterns, names."""

from __future__ import annotations

import hashlib
import importlib.util
import ssl

import pytest
import trustme

from check_smtp_helo.core.inputs import resolver_address
from check_smtp_helo.domain.dane import dane_matches, names_host
from check_smtp_helo.domain.model import MXHost, Policy
from check_smtp_helo.domain.mta_sts import parse_policy, policy_body
from check_smtp_helo.domain.probes import Probe
from check_smtp_helo.options.derive import Settings
from check_smtp_helo.options.parse import parse
from check_smtp_helo.tls.der import public_key_info

NAMES = ["mx.example.com"]  # the DNS names of the leaf in chain()


def der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


@pytest.fixture(scope="module")
def chain():
    """A leaf for mx.example.com under an intermediate CA: [leaf, intermediate], DER."""
    intermediate = trustme.CA().create_child_ca()
    leaf = intermediate.issue_cert("mx.example.com")
    return [der(blob.bytes()) for blob in leaf.cert_chain_pems[:2]]


def record(usage, selector, matching, certificate):
    content = certificate if selector == 0 else public_key_info(certificate)
    digest = {0: None, 1: "sha256", 2: "sha512"}[matching]
    return usage, selector, matching, hashlib.new(digest, content).digest() if digest else content


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("matching", [0, 1, 2])
def test_dane_ee_matches_the_leaf_without_a_name_check(chain, selector, matching):
    assert dane_matches(
        [record(3, selector, matching, chain[0])], chain, NAMES, "other.example.org"
    )
    assert not dane_matches(
        [record(3, selector, matching, chain[1])], chain, NAMES, "mx.example.com"
    )


@pytest.mark.parametrize("selector", [0, 1])
def test_dane_ta_matches_above_the_leaf_and_checks_the_name(chain, selector):
    records = [record(2, selector, 1, chain[1])]
    assert dane_matches(records, chain, NAMES, "mx.example.com")
    assert not dane_matches(records, chain, NAMES, "other.example.com")
    assert not dane_matches([record(2, selector, 1, chain[0])], chain, NAMES, "mx.example.com")
    assert not dane_matches(records, chain[:1], NAMES, "mx.example.com")


def test_dane_other_data_does_not_match(chain):
    usage, selector, matching, data = record(3, 1, 1, chain[0])
    assert not dane_matches(
        [(usage, selector, matching, bytes(len(data)))], chain, NAMES, "mx.example.com"
    )
    assert not dane_matches([record(3, 1, 1, chain[0])], [], NAMES, "mx.example.com")
    assert not dane_matches([record(3, 1, 1, chain[0])], [b"not DER"], NAMES, "mx.example.com")


@pytest.mark.parametrize(
    ("names", "host", "covered"),
    [
        (["mx.example.com"], "MX.example.com.", True),
        (["*.example.com"], "mx.example.com", True),
        (["*.example.com"], "a.mx.example.com", False),
        (["*.com"], "example.com", False),
        (["example.com"], "mx.example.com", False),
    ],
)
def test_certificate_names_cover_the_host(names, host, covered):
    assert names_host(names, host) is covered


def test_policy_is_read():
    policy = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
                          "mx: *.example.net\r\nmax_age: 604800\r\n")  # fmt: skip
    assert (policy.mode, policy.patterns, policy.max_age) == (
        "enforce", ["mx1.example.com", "*.example.net"], 604800)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("mode: enforce\nmx: a.example\nmax_age: 1\n", "policy has no 'version: STSv1'"),
        ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
         "policy mode 'strict' is not one of enforce, testing, none"),
        ("version: STSv1\nmode: enforce\nmx: a.example\n", "policy has no max_age"),
        ("version: STSv1\nmode: testing\nmax_age: 1\n", "policy lists no mx"),
    ],
)  # fmt: skip
def test_bad_policies_say_why(text, reason):
    with pytest.raises(ValueError, match=f"^{reason}$"):
        parse_policy(text)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("mx1.example.com", True), ("MX1.EXAMPLE.COM.", True), ("a.example.net", True),
     ("a.b.example.net", False), ("example.net", False), ("mx2.example.com", False)],
)  # fmt: skip
def test_policy_mx_patterns(host, allowed):
    assert Policy("enforce", ["mx1.example.com", "*.example.net"], 1).allows(host) is allowed


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1",
         "version: STSv1"),
        (b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n",
         "HTTP status 301 (redirects are not followed)"),
        (b"HTTP/1.1 404 Not Found\r\n\r\n", "HTTP status 404"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>", "policy is not text/plain"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plainfoo\r\n\r\nversion: STSv1",
         "policy is not text/plain"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain-x; a=b\r\n\r\nversion: STSv1",
         "policy is not text/plain"),
        (b"HTTP/1.1 200 OK\r\ncontent-type: TEXT/PLAIN ;charset=utf-8\r\n\r\nversion: STSv1",
         "version: STSv1"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 65537,
         "policy larger than 65536 bytes"),
        (b"SSH-2.0-OpenSSH\r\n", "not an HTTP response"),
    ],
)  # fmt: skip
def test_policy_responses(response, outcome):
    if outcome.startswith("version"):
        assert policy_body(response) == outcome
    else:
        with pytest.raises(ValueError, match=f"^{outcome.replace('(', '.').replace(')', '.')}$"):
            policy_body(response)


@pytest.mark.parametrize(
    ("text", "server"),
    [("192.0.2.53", ("192.0.2.53", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
     ("2001:db8::53", ("2001:db8::53", 53)), ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
     ("[::1]", ("::1", 53))],
)  # fmt: skip
def test_resolver_address(text, server):
    assert resolver_address(text) == server


@pytest.mark.parametrize("text", ["dns.example", "[192.0.2.1]:x", "192.0.2.1:0", "1.2.3.4:", ""])
def test_resolver_address_refused(text):
    with pytest.raises(ValueError, match="is not"):
        resolver_address(text)


@pytest.mark.parametrize(
    ("host", "address", "label"),
    [("mx1.Example.com", "192.0.2.9", "time_mx1_example_com_192_0_2_9"),
     ("mx-1.example.com", "2001:db8::25", "time_mx_1_example_com_2001_db8__25")],
)  # fmt: skip
def test_probe_labels_are_word_characters(host, address, label):
    assert Probe(MXHost(host, 10), address, None).label == label  # type: ignore[arg-type]


def test_mail_domain_options_without_dnspython_say_how_to_get_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="apt install python3-dnspython"):
        Settings(parse(["--mx", "example.com"]))
