"""The TLS judgement as a sending MTA or a mail client would make it: facts that cannot be
read are never OK, names only from the subjectAltName, old protocol versions judged, the
system's CA store found on every distribution's layout, failures in words.

Certificates are made at test time with `cryptography` (tests/support/certificates.py), including
the odd encodings real servers send.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from certificates import (
    DAY,
    NOW,
    Issued,
    as_generalized_time,
    issue,
    server_context,
    tweak,
    utc_time,
    write_pem,
)
from helpers import TIME, assert_status, check_server
from servers import Peer, ScriptedServer, smtpd

from check_smtp_helo.tls.certificate import TLSInfo
from check_smtp_helo.tls.der import parse_certificate
from check_smtp_helo.tls.trust import trust_system_cas

BANNER = "220 mx.test ESMTP aiosmtpd"
MINUTE = datetime.timedelta(minutes=1)
EXPIRY = (NOW + 90 * DAY).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def root() -> Issued:
    return issue("check_smtp_helo Test Root", ca=True)


@pytest.fixture(scope="module")
def ca_file(root, tmp_path_factory) -> str:
    return write_pem(tmp_path_factory.mktemp("ca") / "ca.pem", root)


def check(context: ssl.SSLContext, *args: str, host: str = "localhost"):
    """Run the check with STARTTLS against aiosmtpd serving context."""
    with smtpd(ident="ESMTP aiosmtpd", tls_context=context) as port:
        return check_server(port, "-S", *args, host=host), port


def line(port: int, state: str, reason: str | None, tls: str) -> str:
    """The status line of a completed STARTTLS conversation with aiosmtpd."""
    head = f"SMTP {state} - localhost:{port} (127.0.0.1) answered in {TIME}"
    if reason:
        head += f": {reason}"
    return f"{head}, banner: {BANNER}, helo: 250 mx.test, tls: {tls}"


def refused(port: int, reason: str) -> str:
    """The status line of a STARTTLS handshake that failed."""
    return (
        f"SMTP CRITICAL - localhost:{port} (127.0.0.1): {reason}, banner: {BANNER}, "
        "helo: 250 mx.test"
    )


# Fail closed: what the certificate says is read, or the check says it could not be.


@pytest.fixture(scope="module")
def odd(root) -> dict[str, Issued]:
    """Certificates with the encodings that made the old reader give up."""
    leaf = issue("localhost", issuer=root, names=("localhost", "127.0.0.1"), not_after=EXPIRY)
    soon_expiry = (NOW + 3.5 * DAY).replace(second=0, microsecond=0)
    soon = issue("localhost", issuer=root, not_after=soon_expiry)
    short_ip = tweak(leaf, root, lambda tag, body: (tag, b"\x7f\x00") if tag == 0x87 else None)
    return {
        "generalized time": tweak(leaf, root, as_generalized_time(EXPIRY)),
        "generalized time, no seconds": tweak(leaf, root, as_generalized_time(EXPIRY, False)),
        "generalized time, 3 days": tweak(soon, root, as_generalized_time(soon_expiry)),
        "generalized time, no seconds, 3 days": tweak(
            soon, root, as_generalized_time(soon_expiry, False)
        ),
        "2-byte IP address": short_ip,
        "time with an offset": tweak(
            leaf,
            root,
            lambda tag, body: (tag, body[:-1] + b"+0000") if body == utc_time(EXPIRY) else None,
        ),
    }


@pytest.mark.parametrize(
    ("name", "verify"),
    [
        ("generalized time", True),
        ("generalized time, no seconds", False),
        ("2-byte IP address", True),
        ("2-byte IP address", False),
    ],
)
def test_odd_encodings_are_read(odd, ca_file, tmp_path, name, verify):
    """OpenSSL verifies; getpeercert() then has the facts. The DER reader (--insecure) reads
    the odd encodings an unverified peer may send."""
    trust = ["--ca-file", ca_file] if verify else ["--insecure"]
    run, port = check(server_context(tmp_path, odd[name]), *trust, "-D", "30,14", "-v")
    assert_status(run, 0, line(port, "OK", None, "TLSv1.3 (certificate expires in 89 days)"))
    assert float(run.perfdata["cert_days"].value) == pytest.approx(90, abs=0.01)
    alt_names = "DNS:localhost, IP:<invalid>" if "IP" in name else "DNS:localhost, IP:127.0.0.1"
    assert f"certificate alternative names: {alt_names}" in run.long


@pytest.mark.parametrize(
    ("name", "verify"),
    [("generalized time, 3 days", True), ("generalized time, no seconds, 3 days", False)],
)
def test_days_under_d_are_judged_whatever_the_encoding(odd, ca_file, tmp_path, name, verify):
    options = ["--ca-file", ca_file] if verify else ["--insecure"]
    run, port = check(server_context(tmp_path, odd[name]), *options, "-D", "30,14")
    reason = "certificate expires in under 14 days (critical)"
    assert_status(run, 2, line(port, "CRITICAL", reason, "TLSv1.3 (certificate expires in 3 days)"))


@pytest.mark.parametrize("days", [[], ["-D", "30,14"]], ids=["plain", "-D"])
def test_unreadable_certificate_is_unknown_never_ok(odd, tmp_path, days):
    run, port = check(server_context(tmp_path, odd["time with an offset"]), "--insecure", *days)
    reason = "certificate not readable: time '270223185354+0000' is not in UTC"
    reason = reason.replace("270223185354", EXPIRY.strftime("%y%m%d%H%M%S"))
    assert_status(run, 3, line(port, "UNKNOWN", reason, "TLSv1.3 (certificate not readable)"))
    assert "cert_days" not in run.perfdata


def test_not_yet_valid_is_critical_with_insecure_too(root, tmp_path):
    leaf = issue("localhost", issuer=root, not_before=NOW + 2 * DAY - MINUTE, not_after=EXPIRY)
    run, port = check(server_context(tmp_path, leaf), "--insecure")
    tls = "TLSv1.3 (certificate not valid for another 1 day 23 hours)"
    assert_status(run, 2, line(port, "CRITICAL", "certificate not yet valid", tls))


def test_expired_minutes_ago_says_minutes(root, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)  # not NOW: minutes count here
    leaf = issue("localhost", issuer=root, not_after=now - 2.5 * MINUTE)
    run, port = check(server_context(tmp_path, leaf), "--insecure")
    tls = "TLSv1.3 (certificate expired 2 minutes ago)"
    assert_status(run, 2, line(port, "CRITICAL", "certificate expired", tls))


# Names: the subjectAltName only, IDNA2008, a trailing dot as DNS has it.


def test_common_name_without_alt_name_is_not_trusted(root, ca_file, tmp_path):
    leaf = issue("localhost", issuer=root, names=None)
    run, port = check(server_context(tmp_path, leaf), "--ca-file", ca_file)
    reason = (
        "TLS certificate not trusted: hostname mismatch, certificate is not valid for 'localhost'"
    )
    assert_status(run, 2, refused(port, reason))


@pytest.mark.parametrize(("certified", "code"), [("xn--fa-hia.lab.test", 0), ("fass.lab.test", 2)])
def test_international_names_follow_idna2008(root, ca_file, tmp_path, certified, code):
    leaf = issue(certified, issuer=root)
    run, _port = check(
        server_context(tmp_path, leaf), "--ca-file", ca_file, "--sni", "faß.lab.test"
    )
    assert run.code == code, run


def test_trailing_dot_is_the_same_name_and_not_sent(root, ca_file, tmp_path):
    sent = []
    context = server_context(tmp_path, issue("mail.example.net", issuer=root))
    context.sni_callback = lambda _sock, name, _context: sent.append(name)
    run, _port = check(context, "--ca-file", ca_file, "--sni", "mail.example.net.")
    assert run.code == 0, run
    assert sent == ["mail.example.net"]


# Protocol versions: down to TLS 1.0 is reached, below --min-tls is WARNING.


def rsa_leaf(root: Issued) -> Issued:
    return issue("localhost", issuer=root, rsa_key=True, not_after=EXPIRY)


@pytest.mark.parametrize(
    ("version", "shown", "minimum", "code"),
    [
        (ssl.TLSVersion.TLSv1, "TLSv1", [], 1),
        (ssl.TLSVersion.TLSv1_1, "TLSv1.1", [], 1),
        (ssl.TLSVersion.TLSv1, "TLSv1", ["--min-tls", "1.0"], 0),
        (ssl.TLSVersion.TLSv1_2, "TLSv1.2", ["--min-tls", "1.3"], 1),
        (ssl.TLSVersion.TLSv1_2, "TLSv1.2", [], 0),
    ],
)
def test_session_below_the_minimum_is_warning(
    root, ca_file, tmp_path, version, shown, minimum, code
):
    # TLS 1.0 and 1.1 with RSA key exchange: no MD5/SHA-1 handshake signature to refuse
    ciphers = "AES128-SHA:@SECLEVEL=0" if version < ssl.TLSVersion.TLSv1_2 else "DEFAULT"
    context = server_context(tmp_path, rsa_leaf(root), minimum_version=version,
                             maximum_version=version, ciphers=ciphers)  # fmt: skip
    run, port = check(context, "--ca-file", ca_file, *minimum)
    wanted = minimum[1] if minimum else "1.2"
    offers = "only TLS 1.0" if shown == "TLSv1" else f"at most TLS {shown[4:]}"
    reason = f"server offers {offers}, below --min-tls {wanted}" if code else None
    state = "WARNING" if code else "OK"
    assert_status(run, code, line(port, state, reason, f"{shown} (certificate expires in 89 days)"))


@pytest.mark.parametrize(("version", "meets"), [("TLSv1", False), ("TLSv1.2", True)])
def test_tls_info_says_whether_credentials_may_be_sent(version, meets):
    """The AUTH code refuses to send credentials over a session below --min-tls."""

    class Session:
        def version(self):
            return version

        def cipher(self):
            return ("AES128-SHA", version, 128)

        def getpeercert(self, binary_form=False):
            return b"" if binary_form else {}

    info = TLSInfo(Session(), verified=False, min_version="1.2")
    assert (info.version, info.meets_minimum) == (version, meets)
    assert info.unreadable == "the server sent none"


# The system's CA store, wherever the distribution keeps it.


def test_bundle_only_layout_is_trusted(root, tmp_path):
    """RHEL, Rocky, Alma: /etc/pki/tls/certs holds bundles and no hash links."""
    certs = tmp_path / "pki" / "tls" / "certs"
    certs.mkdir(parents=True)
    bundle = write_pem(certs / "ca-bundle.crt", issue("Some Other CA", ca=True), root)
    environment = {"SSL_CERT_FILE": bundle, "SSL_CERT_DIR": str(certs)}
    leaf = issue("localhost", issuer=root, not_after=EXPIRY)
    with smtpd(ident="ESMTP aiosmtpd", tls_context=server_context(tmp_path / "s", leaf)) as port:
        run = check_server(port, "-S", host="localhost", env=environment)
    assert_status(run, 0, line(port, "OK", None, "TLSv1.3 (certificate expires in 89 days)"))


def test_hashed_directory_is_trusted(root, tmp_path):
    hashed = tmp_path / "certs"
    hashed.mkdir()
    write_pem(hashed / "root.pem", root)
    if not shutil.which("openssl"):
        pytest.skip("openssl names the hash links")
    subprocess.run(["openssl", "rehash", str(hashed)], check=True)
    environment = {"SSL_CERT_FILE": str(tmp_path / "none.pem"), "SSL_CERT_DIR": str(hashed)}
    leaf = issue("localhost", issuer=root, not_after=EXPIRY)
    with smtpd(ident="ESMTP aiosmtpd", tls_context=server_context(tmp_path / "s", leaf)) as port:
        run = check_server(port, "-S", host="localhost", env=environment)
        assert run.code == 0, run
        environment["SSL_CERT_DIR"] = str(tmp_path)  # the CA is not there
        run = check_server(port, "-S", host="localhost", env=environment)
    assert run.code == 2, run


class Recorder:
    """Stands in for an SSLContext: which locations would be loaded (a pure unit)."""

    def __init__(self) -> None:
        self.loaded: list[tuple[str, str]] = []

    def load_verify_locations(self, cafile=None, capath=None) -> None:
        self.loaded.append(("cafile", cafile) if cafile else ("capath", capath))


def layout(tmp_path: Path, monkeypatch, hashed: bool, env: dict[str, str]) -> Recorder:
    """A system whose OpenSSL was built for tmp/ssl/cert.pem and tmp/ssl/certs."""
    certs = tmp_path / "ssl" / "certs"
    certs.mkdir(parents=True)
    (certs / "ca-certificates.crt").write_text("bundle")
    (tmp_path / "ssl" / "cert.pem").symlink_to(certs / "ca-certificates.crt")
    if hashed:
        (certs / "9d6523ce.0").symlink_to(certs / "ca-certificates.crt")
    bundle = str(tmp_path / "ssl" / "cert.pem")
    defaults = ssl.DefaultVerifyPaths(
        None, None, "SSL_CERT_FILE", bundle, "SSL_CERT_DIR", str(certs)
    )
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: defaults)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("TMP", str(tmp_path)))
    recorder = Recorder()
    trust_system_cas(recorder)
    return recorder


SYSTEM_DIR, SYSTEM_BUNDLE = "TMP/ssl/certs", "TMP/ssl/cert.pem"


@pytest.mark.parametrize(
    ("hashed", "env", "loaded"),
    [
        # Debian: the hashed directory, read lazily; its own bundle is the same CAs
        (True, {}, [SYSTEM_DIR]),
        (True, {"SSL_CERT_FILE": f"{SYSTEM_DIR}/ca-certificates.crt"}, [SYSTEM_DIR]),
        # RHEL: no hash links, so the bundle
        (False, {}, [SYSTEM_DIR, SYSTEM_BUNDLE]),
        # a bundle of one's own is always loaded, as OpenSSL does
        (True, {"SSL_CERT_FILE": "TMP/mine.pem"}, [SYSTEM_DIR, "TMP/mine.pem"]),
        # SSL_CERT_DIR is a list, as for OpenSSL
        (True, {"SSL_CERT_DIR": f"TMP/a:{SYSTEM_DIR}"}, ["TMP/a", SYSTEM_DIR]),
        # a directory of one's own: the system bundle is the system's CAs
        (True, {"SSL_CERT_DIR": "TMP/a"}, ["TMP/a", SYSTEM_BUNDLE]),
    ],
    ids=["debian", "debian SSL_CERT_FILE", "rhel", "own bundle", "dir list", "own dir"],
)
def test_ca_store_lookup(tmp_path, monkeypatch, hashed, env, loaded):
    (tmp_path / "mine.pem").write_text("mine")
    (tmp_path / "a").mkdir()
    recorder = layout(tmp_path, monkeypatch, hashed, env)
    wanted = [
        (
            "capath" if path.endswith(("certs", "/a")) else "cafile",
            path.replace("TMP", str(tmp_path)),
        )
        for path in loaded
    ]
    assert recorder.loaded == wanted


# OpenSSL's failures in words; the raw reason at -vv.


def starttls_then_tls(context: ssl.SSLContext, after):
    """A script: banner, EHLO with STARTTLS, 220, the handshake as server, then after()."""

    def script(peer: Peer) -> None:
        peer.send(b"220 tls.test ESMTP\r\n")
        peer.line()
        peer.send(b"250-tls.test\r\n250 STARTTLS\r\n")
        peer.line()
        peer.send(b"220 2.0.0 Ready\r\n")
        tls = context.wrap_socket(peer.conn, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            peer.server.stopping.wait(5)  # the alert is sent: the client's next read meets it
            return
        after(tls)

    return script


UNRECOGNIZED_NAME = ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME


def _read(tls: ssl.SSLSocket) -> None:
    with contextlib.suppress(ssl.SSLError, OSError):
        tls.recv(100)


def _plaintext(tls: ssl.SSLSocket) -> None:
    tls.recv(100)
    os.write(tls.fileno(), b"250 plain text\r\n")
    tls.recv(100)


@pytest.mark.parametrize(
    ("limits", "after", "status"),
    [
        (
            {"verify_mode": ssl.CERT_REQUIRED},
            _read,
            "server requires a client certificate while waiting for the EHLO reply, banner: 220 "
            "tls.test ESMTP, tls: TLSv1.3 (certificate expires in 89 days)",
        ),
        (
            {"verify_mode": ssl.CERT_REQUIRED, "maximum_version": ssl.TLSVersion.TLSv1_2},
            _read,
            "TLS handshake failed: server refused the handshake (no cipher in common, or it "
            "requires a client certificate), banner: 220 tls.test ESMTP, helo: 250 tls.test",
        ),
        (
            {},
            _plaintext,
            "unexpected data instead of TLS while waiting for the EHLO reply, banner: 220 "
            "tls.test ESMTP, tls: TLSv1.3 (certificate expires in 89 days)",
        ),
        (
            {"sni_callback": lambda _sock, _name, _context: UNRECOGNIZED_NAME},
            _read,
            "TLS handshake failed: server does not know the name sent in SNI (see --sni), "
            "banner: 220 tls.test ESMTP, helo: 250 tls.test",
        ),
    ],
    ids=["client certificate 1.3", "client certificate 1.2", "plain text after TLS", "SNI"],
)
def test_tls_failures_in_words(root, ca_file, tmp_path, limits, after, status):
    leaf = issue("localhost", issuer=root, not_after=EXPIRY)
    script = starttls_then_tls(server_context(tmp_path, leaf, **limits), after)
    with ScriptedServer(script) as peer:
        args = ("-S", "--ca-file", ca_file, "-vv", "-t", "5")
        run = check_server(peer.port, *args, host="localhost")
    assert_status(run, 2, f"SMTP CRITICAL - localhost:{peer.port} (127.0.0.1): {status}")
    assert "_ssl.c" not in run.status
    raw = [text for text in run.long if text.startswith("TLS: [SSL: ")]
    assert len(raw) == 1 and "(_ssl.c:" in raw[0], run.long


# The chain the server sent: Python 3.10 and later show it; on 3.9 the reason stays OpenSSL's.
CHAIN_SHOWN = sys.version_info >= (3, 10)


def test_missing_intermediate_is_named(root, ca_file, tmp_path):
    intermediate = issue("Test Intermediate", ca=True, issuer=root)
    leaf = issue("localhost", issuer=intermediate)
    run, port = check(server_context(tmp_path, leaf), "--ca-file", ca_file)
    alone = ", no intermediate sent" if CHAIN_SHOWN else ""
    reason = (
        f"TLS certificate not trusted: unable to get local issuer certificate{alone} "
        "(private CA? use --ca-file)"
    )
    assert_status(run, 2, refused(port, reason))
    run, port = check(server_context(tmp_path, leaf, intermediate))
    reason = (
        "TLS certificate not trusted: unable to get local issuer certificate (private CA? use "
        "--ca-file)"
    )
    assert_status(run, 2, refused(port, reason))


def test_expired_intermediate_is_named(root, ca_file, tmp_path):
    old = issue("Old Intermediate", ca=True, issuer=root, not_before=NOW - 400 * DAY,
                not_after=NOW - 2 * DAY - MINUTE)  # fmt: skip
    leaf = issue("localhost", issuer=old)
    run, port = check(server_context(tmp_path, leaf, old), "--ca-file", ca_file)
    reason = "TLS certificate not trusted: " + (
        "intermediate O=check_smtp_helo tests, CN=Old Intermediate expired 2 days ago"
        if CHAIN_SHOWN
        else "certificate has expired"
    )
    assert_status(run, 2, refused(port, reason))


# The DER reader (used with --insecure) against every encoding it supports.


def test_der_reader_reads_the_odd_encodings(odd):
    for name in ("generalized time", "2-byte IP address"):
        facts = parse_certificate(odd[name].der)
        assert facts["not_after"] == int(EXPIRY.timestamp()), name
        assert facts["subject"] == "O=check_smtp_helo tests, CN=localhost"
    assert parse_certificate(odd["2-byte IP address"].der)["alt_names"] == [
        "DNS:localhost",
        "IP:<invalid>",
    ]


@pytest.mark.parametrize(
    ("encoded", "seconds"),
    [
        (b"\x17\x0b2611251200Z", 0),  # UTCTime without seconds
        (b"\x18\x132026112512000" + b"0.5Z", 0),  # GeneralizedTime with a fraction
        (b"\x18\x0f20261125120000Z", 0),
    ],
)
def test_der_reader_reads_time_forms(root, encoded, seconds):
    leaf = issue("localhost", issuer=root, not_after=EXPIRY)
    tag, body = encoded[0], encoded[2:]
    tweaked = tweak(leaf, root, lambda t, b: (tag, body) if b == utc_time(EXPIRY) else None)
    moment = parse_certificate(tweaked.der)["not_after"]
    noon = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.timezone.utc)
    assert moment == noon.timestamp() + seconds


@pytest.mark.parametrize(
    "der",
    [b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x30\x01", b"\x30\x02\x30\x00"],
)
def test_der_reader_says_what_it_cannot_read(der):
    with pytest.raises(ValueError):
        parse_certificate(der)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[ssl] legacy sigalg disallowed or unsupported (_ssl.c:992)",
            "server offers only TLS 1.0 or 1.1 with an MD5/SHA-1 signature, which this client "
            "refuses",
        ),
        ("[SSL: BAD_RECORD_TYPE] bad record type (_ssl.c:2546)", "unexpected data instead of TLS"),
        ("[SSL] unknown failure (_ssl.c:1000)", "unknown failure"),
    ],
)
def test_a_reason_this_python_has_no_code_for_is_read_from_its_text(text, said):
    """Debian 12's Python 3.11 leaves exc.reason empty for some of OpenSSL 3's reasons."""
    from check_smtp_helo.tls.errors import words  # noqa: PLC0415 -- ssl only where TLS is tested

    error = ssl.SSLError(1, text)
    assert getattr(error, "reason", None) is None
    assert words(error) == said
