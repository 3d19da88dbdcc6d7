"""STARTTLS, implicit TLS and certificate checks against aiosmtpd and scripted TLS failures.

Certificates are made at test time with trustme: valid, expiring soon, expired, for the wrong
name, and from a CA the plugin is not told about.
"""

from __future__ import annotations

import datetime
import ssl
import subprocess
import sys

import pytest
import trustme
from helpers import (
    CHECK,
    HELO,
    TIME,
    assert_phases,
    assert_status,
    assert_within,
    check_server,
    run_check,
)
from servers import Peer, ScriptedServer, smtpd

BANNER = "220 mx.test ESMTP aiosmtpd"
TLS_PHASES = {"dns", "connect", "tls", "banner", "helo", "time", "cert_days"}
NOW = datetime.datetime.now(datetime.timezone.utc)


class PKI:
    """A test CA (written to a file for --ca-file) and server contexts for its certificates."""

    def __init__(self, tmp_path_factory) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(tmp_path_factory.mktemp("pki") / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def context(
        self,
        *names: str,
        days: float = 90.05,
        ca: trustme.CA | None = None,
        now: datetime.datetime = NOW,
    ):
        """A server SSLContext with a certificate for names, valid for `days` from now."""
        leaf = (ca or self.ca).issue_cert(
            *(names or ("localhost", "127.0.0.1")),
            not_before=now - datetime.timedelta(days=400),
            not_after=now + datetime.timedelta(days=days),
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI(tmp_path_factory)


@pytest.fixture(scope="module")
def starttls_server(pki):
    with smtpd(ident="ESMTP aiosmtpd", tls_context=pki.context()) as port:
        yield port


@pytest.fixture(scope="module")
def smtps_server(pki):
    with smtpd(ident="ESMTP aiosmtpd", ssl_context=pki.context()) as port:
        yield port


def ok_line(host: str, port: int, days: int = 90) -> str:
    shown = f"{host}:{port}" + (" (127.0.0.1)" if host == "localhost" else "")
    return (
        f"SMTP OK - {shown} answered in {TIME}, banner: {BANNER}, helo: 250 mx.test, "
        f"tls: TLSv1.3 (certificate expires in {days} days)"
    )


@pytest.mark.parametrize("mode", ["-S", "--starttls"])
def test_starttls_ok_with_private_ca(pki, starttls_server, mode):
    run = check_server(
        starttls_server, mode, "--ca-file", pki.ca_file, "-w", "1", "-c", "2", host="localhost"
    )
    assert_status(run, 0, ok_line("localhost", starttls_server))
    assert set(run.perfdata) == TLS_PHASES
    assert run.perfdata["time"].warn == "1"
    assert float(run.perfdata["cert_days"].value) == pytest.approx(90.05, abs=0.01)
    assert run.perfdata["cert_days"][1:] == ("", "", "", "", "")
    phases = sum(float(run.perfdata[p].value) for p in ("connect", "tls", "banner", "helo"))
    assert float(run.perfdata["time"].value) == pytest.approx(phases, abs=5e-6)


@pytest.mark.parametrize("mode", ["-s", "--ssl", "--tls"])
def test_implicit_tls_ok(pki, smtps_server, mode):
    run = check_server(smtps_server, mode, "--ca-file", pki.ca_file, host="localhost")
    assert_status(run, 0, ok_line("localhost", smtps_server))
    assert set(run.perfdata) == TLS_PHASES


def test_certificate_checked_against_ip_literal(pki, starttls_server):
    run = check_server(starttls_server, "-S", "--ca-file", pki.ca_file)
    assert_status(run, 0, ok_line("127.0.0.1", starttls_server))


def test_sni_names_the_certificate_to_verify(pki):
    with smtpd(ident="ESMTP aiosmtpd", tls_context=pki.context("mail.example.net")) as port:
        run = check_server(port, "-S", "--ca-file", pki.ca_file, "--sni", "mail.example.net")
        assert_status(run, 0, ok_line("127.0.0.1", port))
        run = check_server(port, "-S", "--ca-file", pki.ca_file)
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{port}: TLS certificate not trusted: IP "
        f"address mismatch, certificate is not valid for '127.0.0.1', banner: {BANNER}, "
        "helo: 250 mx.test",
    )


@pytest.mark.parametrize(
    ("days_option", "code", "reason", "thresholds"),
    [
        ("100", 1, "certificate expires in under 100 days (warning)", ("100:", "")),
        ("100,95", 2, "certificate expires in under 95 days (critical)", ("100:", "95:")),
        ("30,14", 0, None, ("30:", "14:")),
    ],
)
def test_certificate_days_keep_the_smtp_result(
    pki, starttls_server, days_option, code, reason, thresholds
):
    run = check_server(
        starttls_server,
        "-S",
        "--ca-file",
        pki.ca_file,
        "-D",
        days_option,
        "-w",
        "1",
        host="localhost",
    )
    state = ["OK", "WARNING", "CRITICAL"][code]
    line = ok_line("localhost", starttls_server).replace("SMTP OK", f"SMTP {state}")
    if reason:
        line = line.replace(f"answered in {TIME}", f"answered in {TIME}: {reason}")
    assert_status(run, code, line)
    assert set(run.perfdata) == TLS_PHASES
    assert (run.perfdata["cert_days"].warn, run.perfdata["cert_days"].crit) == thresholds
    assert run.perfdata["time"].warn == "1"


def test_verbose_describes_the_tls_session_and_certificate(pki, starttls_server):
    run = check_server(starttls_server, "-S", "--ca-file", pki.ca_file, "-v", host="localhost")
    assert run.code == 0, run
    tls = [line for line in run.long if line.startswith(("TLS:", "certificate"))]
    assert tls[0].startswith("TLS: TLSv1.3, cipher TLS_")
    assert tls[0].endswith("bits), certificate verified")
    assert tls[1].startswith("certificate subject: O=trustme")
    assert tls[2] == "certificate alternative names: DNS:localhost, IP:127.0.0.1"
    assert tls[3].startswith("certificate issuer: O=trustme")
    assert tls[4].startswith("certificate valid from: 20") and tls[4].endswith(" UTC")
    assert tls[5].startswith("certificate expires: 20") and tls[5].endswith(
        " UTC (certificate expires in 90 days)"
    )
    assert tls[6:8] == [
        "certificate key: EC 256 bits (P-256)",
        "certificate signature: SHA-256 with ECDSA",
    ]
    if sys.version_info >= (3, 10):  # the chain is known from Python 3.10
        assert tls[8] == "certificate chain: 1 sent by the server, 2 in the verified chain"
    assert "EHLO before TLS: 250-STARTTLS" in run.long
    assert "EHLO: 250-mx.test" in run.long


def test_plain_check_never_imports_ssl(starttls_server):
    def imported(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", CHECK, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc
        return proc.stderr

    plain = imported("-H", "127.0.0.1", "-p", str(starttls_server), *HELO)
    assert "ssl" not in {line.rsplit("|", 1)[-1].strip() for line in plain.splitlines()}
    tls = imported("-H", "127.0.0.1", "-p", str(starttls_server), *HELO, "-S", "--insecure")
    assert "ssl" in {line.rsplit("|", 1)[-1].strip() for line in tls.splitlines()}


@pytest.mark.parametrize(
    ("names", "days", "ca_file", "reason"),
    [
        (
            ("localhost",),
            90.05,
            False,
            "unable to get local issuer certificate"
            + (", no intermediate sent" if sys.version_info >= (3, 10) else "")
            + " (private CA? use --ca-file)",
        ),
        (
            ("wrong.example",),
            90.05,
            True,
            "hostname mismatch, certificate is not valid for 'localhost'",
        ),
        (("localhost",), -2, True, "certificate has expired"),
    ],
    ids=["unknown CA", "wrong name", "expired"],
)
def test_verification_failures_are_critical(pki, names, days, ca_file, reason):
    with smtpd(ident="ESMTP aiosmtpd", tls_context=pki.context(*names, days=days)) as port:
        extra = ["--ca-file", pki.ca_file] if ca_file else []
        run = check_server(port, "-S", *extra, host="localhost")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{port} (127.0.0.1): TLS certificate not "
        f"trusted: {reason}, banner: {BANNER}, helo: 250 mx.test",
    )
    assert_phases(run, {"dns", "connect", "banner", "helo"})


def test_self_signed_certificate_is_critical(pki, tmp_path):
    own = trustme.CA()  # a CA certificate is self-signed: serve it as the server certificate
    own.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    own.cert_pem.write_to_path(str(tmp_path / "cert.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with smtpd(ident="ESMTP aiosmtpd", ssl_context=context) as port:
        run = check_server(port, "-s", "--ca-file", pki.ca_file, host="localhost")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{port} (127.0.0.1): TLS certificate not trusted: "
        "self-signed certificate",
    )
    assert_phases(run, {"dns", "connect"})


def test_certificate_not_yet_valid_is_critical(pki):
    leaf = pki.ca.issue_cert(
        "localhost",
        not_before=NOW + datetime.timedelta(days=2),
        not_after=NOW + datetime.timedelta(days=90),
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    with smtpd(ident="ESMTP aiosmtpd", tls_context=context) as port:
        run = check_server(port, "-S", "--ca-file", pki.ca_file, host="localhost")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{port} (127.0.0.1): TLS certificate not trusted: "
        f"certificate is not yet valid, banner: {BANNER}, helo: 250 mx.test",
    )


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        (7.5, "7 hours 29 minutes"),
        (2 - 0.5 / 60, "1 hour 59 minutes"),
        (1.01, "1 hour"),
        (0.51, "30 minutes"),
        (0.02, "1 minute"),
        (0.01, "less than a minute"),
        (25.5, "1 day 1 hour"),
        (48.5, "2 days"),
    ],
)
def test_time_left_in_words(pki, hours, words):
    now = datetime.datetime.now(datetime.timezone.utc)  # not NOW: minutes count here
    context = pki.context(days=hours / 24, now=now)
    with smtpd(ident="ESMTP aiosmtpd", tls_context=context) as port:
        run = check_server(port, "-S", "--ca-file", pki.ca_file, host="localhost")
    assert run.code == 0, run
    assert run.status.endswith(f"tls: TLSv1.3 (certificate expires in {words})"), run


def test_certificate_expiring_in_a_few_days(pki):
    with smtpd(ident="ESMTP aiosmtpd", tls_context=pki.context(days=5.5)) as port:
        run = check_server(port, "-S", "--ca-file", pki.ca_file, "-D", "30,14", host="localhost")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{port} (127.0.0.1) answered in {TIME}: certificate "
        f"expires in under 14 days (critical), banner: {BANNER}, helo: 250 mx.test, "
        "tls: TLSv1.3 (certificate expires in 5 days)",
    )
    assert set(run.perfdata) == TLS_PHASES
    assert float(run.perfdata["cert_days"].value) == pytest.approx(5.5, abs=0.01)


def test_insecure_skips_verification_but_judges_expiry(pki):
    stranger = trustme.CA()
    with smtpd(ident="ESMTP aiosmtpd", tls_context=pki.context("wrong.example", ca=stranger)) as p:
        run = check_server(p, "-S", "--insecure", "-v", host="localhost")
    assert_status(run, 0, ok_line("localhost", p))
    assert any(line.endswith("bits), certificate NOT verified (--insecure)") for line in run.long)
    assert "certificate alternative names: DNS:wrong.example" in run.long
    with smtpd(ident="ESMTP aiosmtpd", tls_context=pki.context(days=-3.5, ca=stranger)) as p:
        run = check_server(p, "-S", "--insecure", host="localhost")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{p} (127.0.0.1) answered in {TIME}: "
        f"certificate expired, banner: {BANNER}, helo: 250 mx.test, tls: TLSv1.3 (certificate "
        "expired 3 days ago)",
    )
    assert float(run.perfdata["cert_days"].value) == pytest.approx(-3.5, abs=0.01)


def test_starttls_not_offered_is_critical_and_says_quit():
    with smtpd(ident="ESMTP aiosmtpd") as port:
        run = check_server(port, "-S", "-vv")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{port}: STARTTLS not offered, "
        f"banner: {BANNER}, helo: 250 mx.test",
    )
    assert_phases(run, {"dns", "connect", "banner", "helo"})
    assert run.long[-2:] == ["C: QUIT", "S: 221 Bye"]


def starttls_peer(reply: bytes, then) -> callable:
    """A script that offers STARTTLS, answers it with reply, then runs `then`."""

    def script(peer: Peer) -> None:
        peer.send(b"220 tls.test ESMTP\r\n")
        peer.line()
        peer.send(b"250-tls.test\r\n250 STARTTLS\r\n")
        peer.line()
        peer.send(reply)
        then(peer)

    return script


def _expect_quit(peer: Peer) -> None:
    peer.converse({})


def _close_in_handshake(peer: Peer) -> None:
    peer.conn.recv(4096)


def _garbage_handshake(peer: Peer) -> None:
    peer.conn.recv(4096)
    peer.send(b"this is not TLS at all\r\n")
    peer.hold()


def _stall(peer: Peer) -> None:
    peer.hold()


READY = b"220 2.0.0 Ready to start TLS\r\n"
STARTTLS_FAULTS = [
    (
        b"454 4.7.0 TLS not available\r\n",
        _expect_quit,
        "STARTTLS answered 454 4.7.0 TLS not available",
        False,
    ),
    (b"554 5.5.1 No\r\n", _expect_quit, "STARTTLS answered 554 5.5.1 No", False),
    (READY, _close_in_handshake, "TLS handshake failed: server closed the TLS session", False),
    (READY, _garbage_handshake, "TLS handshake failed: unexpected data instead of TLS", False),
    (READY, _stall, "no TLS handshake within 2s", True),
    (
        READY + b"250 smuggled\r\n",
        _stall,
        "protocol error: data after the STARTTLS reply, before TLS",
        False,
    ),
]


@pytest.mark.parametrize(
    ("reply", "then", "reason", "timed_out"),
    STARTTLS_FAULTS,
    ids=["454", "554", "close", "garbage", "stall", "injection"],
)
def test_starttls_faults_are_critical_within_the_timeout(reply, then, reason, timed_out):
    with ScriptedServer(starttls_peer(reply, then)) as peer:
        run = check_server(peer.port, "-S", "-t", "2")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{peer.port}: {reason}, "
        "banner: 220 tls.test ESMTP, helo: 250 tls.test",
    )
    assert_within(run, 2)
    assert peer.received.startswith(b"EHLO monitor.example.com\r\nSTARTTLS\r\n")
    if reply.startswith((b"454", b"554")):
        assert peer.received.endswith(b"QUIT\r\n")
    assert "tls" not in run.perfdata


def test_plain_server_on_an_implicit_tls_check():
    def plain(peer: Peer) -> None:
        peer.send(b"220 plain.test ESMTP\r\n")
        peer.hold()

    with ScriptedServer(plain) as peer:
        run = check_server(peer.port, "-s", "-t", "2")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{peer.port}: TLS handshake failed: unexpected data "
        "instead of TLS (is it plain SMTP? use -S for STARTTLS, or no TLS option)",
    )
    assert_within(run, 2)


def test_tls_server_on_a_plain_check(smtps_server):
    run = check_server(smtps_server, "-t", "2")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{smtps_server}: no banner within 2s "
        "(implicit TLS port? use -s)",
    )
    assert_within(run, 2)


def test_stalled_implicit_handshake_takes_the_timeout_state():
    with ScriptedServer(_stall) as peer:
        run = check_server(peer.port, "-s", "-t", "1", "--timeout-state", "unknown")
    assert_status(run, 3, f"SMTP UNKNOWN - 127.0.0.1:{peer.port}: no TLS handshake within 1s")
    assert_within(run, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-S", "-s"], "-S/--starttls and -s/--ssl/--tls exclude each other"),
        (["--helo", "-S"], "-S/--starttls and --helo exclude each other"),
        (["-s", "--ca-file", "x.pem", "--insecure"], "--insecure and --ca-file exclude each other"),
        (
            ["-s", "--ca-file", "/nonexistent.pem"],
            "cannot use --ca-file '/nonexistent.pem': No such file or directory",
        ),
        (
            ["-s", "--ca-file", "/etc/hostname"],
            "cannot use --ca-file '/etc/hostname': no certificate or crl found",
        ),
        (
            ["-s", "-D", "30,"],
            "-D/--certificate-days: '30,' is not WARN or WARN,CRIT in days",
        ),
        (["-s", "-D", "-5"], "-D/--certificate-days: '-5' is not WARN or WARN,CRIT in days"),
        (["-s", "--sni", "bad name"], "--sni 'bad name' is not a valid host name"),
    ],
)
def test_bad_tls_options_are_unknown(args, message):
    run = run_check("-H", "127.0.0.1", *args)
    assert_status(run, 3, f"SMTP UNKNOWN - {message}")
    assert run.lines == [run.status]
