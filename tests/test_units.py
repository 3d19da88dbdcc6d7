"""Pure units: text safety, perfdata number formats, name checks, the wire guard, SASL."""

from __future__ import annotations

import base64
import calendar
import datetime
import io
import logging
import re
import socket
import ssl

import nagiosplugin
import pytest
import trustme

from check_smtp_helo.checks.output import StatusLineOutput
from check_smtp_helo.checks.perfdata import decimal, duration, number, range_text
from check_smtp_helo.core.inputs import helo_argument, parse_host
from check_smtp_helo.core.text import printable, safe
from check_smtp_helo.options.derive import Derived
from check_smtp_helo.options.parse import parse
from check_smtp_helo.smtp.clock import Clock
from check_smtp_helo.smtp.conversation import auth_offered
from check_smtp_helo.smtp.model import Reply, Target, address_literal
from check_smtp_helo.smtp.sasl import Credentials, SASLError, Scram
from check_smtp_helo.smtp.wire import Channel
from check_smtp_helo.tls.der import days_from_civil, parse_certificate


def test_printable_makes_server_text_safe():
    assert printable(b"220 ok | x=1\x00\x1b[0m\x7f caf\xc3\xa9") == "220 ok / x=1??[0m? caf??"


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("250 ok; SIZE|1", 120, "250 ok: SIZE/1"),
        ("caf\u00e9\r\n  x\x1b", 120, "caf\\xe9 x?"),
        ("a" * 130, 120, "a" * 117 + "..."),
        ("exactly", 7, "exactly"),
    ],
)
def test_safe_text_is_one_clipped_line_without_semicolons(text, limit, shown):
    assert safe(text, limit) == shown


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0004, "0.4 ms"), (0.00004, "0.0 ms"), (0.0475, "47.5 ms"), (0.99994, "999.9 ms"),
     (0.99996, "1.000s"), (1.5, "1.500s"), (12.25, "12.250s")],
)  # fmt: skip
def test_the_status_line_gives_milliseconds_below_one_second(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.000001, "0.000001"), (12.5, "12.500000"), (0, "0.000000"), (1234.0000004, "1234.000000")],
)
def test_measured_values_are_plain_decimals(value, text):
    assert decimal(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(10, "10"), (2.5, "2.5"), (0.00001, "0.00001"), (-0.0, "0"), (1e-7, "0")]
)
def test_limits_are_plain_numbers(value, text):
    assert number(value) == text


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("1", "1"),
        ("0:1", "1"),
        ("0.5", "0.5"),
        ("~:2", "~:2"),
        ("@1:2", "@1:2"),
        ("10:", "10:"),
        ("0.00001", "0.00001"),
        ("", ""),
    ],
)
def test_ranges_in_perfdata_keep_plain_numbers(spec, text):
    assert range_text(nagiosplugin.Range(spec)) == text


def test_reply_wire_lines():
    reply = Reply(250, ["mx.test", "PIPELINING", "8BITMIME"], "EHLO")
    assert reply.wire_lines() == ["250-mx.test", "250-PIPELINING", "250 8BITMIME"]
    assert str(reply) == "250 mx.test"
    assert str(Reply(220, [""])) == "220"


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


def test_channel_refuses_to_send_a_line_break():
    near, far = socket.socketpair()
    with near, far:
        channel = Channel(near, Clock(1.0), logging.getLogger("test"))
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            channel.send("helo", "EHLO a\r\nRCPT TO:<x>")
        far.setblocking(False)
        with pytest.raises(BlockingIOError):
            far.recv(1)


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


@pytest.mark.parametrize(
    ("args", "port"),
    [
        ([], 25),
        (["-s"], 465),
        (["--tls"], 465),
        (["-S"], 25),
        (["-s", "-p", "2465"], 2465),
        (["-L"], 24),
        (["-L", "-S"], 24),
        (["-L", "-s"], 465),
    ],
)
def test_default_port_follows_implicit_tls(args, port):
    assert Derived(parse(["-H", "mx.example.com", *args])).port == port


def test_scram_sha_256_follows_rfc_7677():
    """The exchange of RFC 7677 section 3, with its nonce, salt and iteration count."""
    scram = Scram(b"user", b"pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert base64.b64decode(scram.initial()) == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert base64.b64decode(scram.respond(server_first)) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert not scram.verified
    assert scram.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == ""
    assert scram.verified


@pytest.mark.parametrize(
    ("server_first", "reason"),
    [
        (b"r=someone-elses-nonce,s=c2FsdA==,i=4096", "the server's nonce does not extend ours"),
        (b"r=ours,s=c2FsdA==,i=4096", "the server's nonce does not extend ours"),
        (b"r=oursX,s=c2FsdA==,i=10000000", "iteration count not within 1..100000"),
        (b"r=oursX,i=4096", "the server's message has no s="),
    ],
)
def test_scram_refuses_a_server_first_message_it_cannot_trust(server_first, reason):
    with pytest.raises(SASLError, match=re.escape(reason)):
        Scram(b"user", b"pencil", nonce="ours").respond(server_first)


def test_cram_md5_follows_rfc_2195():
    cram = Credentials("tim", "tanstaaftanstaaf").start("CRAM-MD5")
    response = cram.respond(b"<1896.697170952@postoffice.reston.mci.net>")
    assert base64.b64decode(response) == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert cram.revealing == [b"tanstaaftanstaaf"]  # nothing sent reveals the secret


def test_plain_and_login_send_the_secret_and_list_what_reveals_it():
    plain = Credentials("u", "p\u00e9").start("PLAIN")
    assert base64.b64decode(plain.initial()) == b"\0u\0p\xc3\xa9"
    login = Credentials("u", "pw").start("LOGIN")
    assert login.initial() is None
    assert [
        base64.b64decode(login.respond(b"Username:")),
        base64.b64decode(login.respond(b"")),
    ] == [
        b"u",
        b"pw",
    ]
    assert set(login.revealing) == {b"pw", b"dQ==", b"cHc="}
    with pytest.raises(SASLError):
        login.respond(b"again?")


@pytest.mark.parametrize(
    ("mechanism", "offered", "chosen"),
    [
        (None, ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"], "SCRAM-SHA-256"),
        (None, ["LOGIN", "PLAIN"], "PLAIN"),
        (None, ["GSSAPI", "XOAUTH2"], None),
        ("LOGIN", ["PLAIN", "LOGIN"], "LOGIN"),
        ("CRAM-MD5", ["PLAIN", "LOGIN"], None),
    ],
)
def test_the_strongest_offered_mechanism_unless_one_is_asked_for(mechanism, offered, chosen):
    assert Credentials("u", "p", mechanism).choose(offered) == chosen


def test_credentials_never_show_the_secret():
    credentials = Credentials("u", "hunter2")
    assert "hunter2" not in repr(credentials) + str(credentials)


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("AUTH PLAIN LOGIN", ["PLAIN", "LOGIN"]),
        ("AUTH=PLAIN LOGIN", ["PLAIN", "LOGIN"]),
        ("auth cram-md5", ["CRAM-MD5"]),
        ("AUTHX PLAIN", []),
    ],
)
def test_auth_mechanisms_offered_by_ehlo(line, offered):
    assert auth_offered(Reply(250, ["mx.example.com", line])) == offered


def test_the_status_line_is_safe_whoever_sets_it():
    """nagiosplugin sets the status line itself after an internal error."""
    output = StatusLineOutput(logging.StreamHandler(io.StringIO()), 0)
    output.status = "SMTP UNKNOWN: ValueError: a;b|c\r\nd"
    output.add_longoutput(["long;line"])
    assert str(output) == "SMTP UNKNOWN: ValueError: a:b/c d\nlong:line\n"


@pytest.mark.parametrize(
    "thresholds",
    [("-w", "1", "-c", "1"), ("-w", "1", "-c", "2"), ("-w", "~:2", "-c", "1"),
     ("-w", "@1:2", "-c", "0.5"), ("-w", "1:3", "-c", "2"), ("-w", "2"), ("-c", "1")],
)  # fmt: skip
def test_thresholds_other_than_warning_above_critical_are_taken(thresholds):
    options = parse(["-H", "mx.example.com", *thresholds])
    given = dict(zip(thresholds[::2], thresholds[1::2]))
    assert str(options.warning) == given.get("-w", "")
    assert str(options.critical) == given.get("-c", "")
