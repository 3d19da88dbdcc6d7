"""The DER reader against the calendar and the ssl module."""

from __future__ import annotations

import calendar
import datetime
import ssl

import pytest
import trustme

from check_smtp_helo.tls.der import days_from_civil, parse_certificate


@pytest.mark.parametrize(
    "date",
    [(1970, 1, 1), (1999, 12, 31), (2000, 2, 29), (2024, 3, 1), (2038, 1, 19), (2100, 3, 1),
     (3000, 1, 1), (1950, 6, 15)],
)  # fmt: skip
def test_days_from_civil_agrees_with_calendar(date):
    assert days_from_civil(*date) * 86400 == calendar.timegm((*date, 0, 0, 0, 0, 0, 0))


def test_certificate_reader_agrees_with_the_ssl_module(tmp_path):
    ca = trustme.CA()
    not_after = datetime.datetime(2031, 7, 4, 12, 30, 15, tzinfo=datetime.timezone.utc)
    leaf = ca.issue_cert("mx.example.com", "192.0.2.7", "2001:db8::7", not_after=not_after)
    pem = leaf.cert_chain_pems[0].bytes().decode()
    facts = parse_certificate(ssl.PEM_cert_to_DER_cert(pem))
    assert facts["not_after"] == int(not_after.timestamp())
    assert facts["alt_names"] == ["DNS:mx.example.com", "IP:192.0.2.7", "IP:2001:db8::7"]
    assert facts["subject"].startswith("O=trustme v") and ", OU=Testing cert #" in facts["subject"]
    assert facts["issuer"].startswith("O=trustme v") and ", OU=Testing CA #" in facts["issuer"]
    with pytest.raises(ValueError, match="runs past the end"):
        parse_certificate(b"")
