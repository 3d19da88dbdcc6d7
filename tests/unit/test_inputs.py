"""What the user names: the host, the EHLO/HELO argument, address literals."""

from __future__ import annotations

import pytest

from check_smtp_helo.core.inputs import helo_argument, parse_host
from check_smtp_helo.smtp.model import Target, address_literal


@pytest.mark.parametrize(
    ("address", "literal"),
    [
        ("192.0.2.7", "[192.0.2.7]"),
        ("2001:db8::7", "[IPv6:2001:db8::7]"),
        ("fe80::1%lo", "[IPv6:fe80::1]"),
    ],
)
def test_address_literals(address, literal):
    assert address_literal(address) == literal


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("MX.Example.COM", "MX.Example.COM"),
        ("mx.example.com.", "mx.example.com."),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%lo", "fe80::1%lo"),
        ("b\u00fccher.example", "xn--bcher-kva.example"),
        ("_smtp.example.org", "_smtp.example.org"),
    ],
)
def test_parse_host(value, host):
    assert parse_host(value) == host


@pytest.mark.parametrize(
    ("fqdn", "email", "name"),
    [
        (None, None, None),
        ("a.example", "x@b.example", "a.example"),
        (None, "x@b.example", "b.example"),
        (None, '"odd@local"@c.example', "c.example"),
        ("[192.0.2.1]", None, "[192.0.2.1]"),
    ],
)
def test_helo_argument(fqdn, email, name):
    assert helo_argument(fqdn, email) == name


@pytest.mark.parametrize("bad", ["a.example\0", "a.example\r\nQUIT", "a.example\n"])
def test_nothing_with_cr_lf_nul_becomes_a_helo_argument(bad):
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        helo_argument(bad, None)
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        helo_argument(None, f"user@{bad}")
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        Target("127.0.0.1", 25, 1.0, helo_name=bad)
