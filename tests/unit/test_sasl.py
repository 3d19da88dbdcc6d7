"""SASL mechanisms against their RFCs' examples; the secret never shown."""

from __future__ import annotations

import base64
import re

import pytest

from check_smtp_helo.smtp.sasl import Credentials, SASLError, Scram


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
