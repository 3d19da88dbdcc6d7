"""TLS posture in the same check: old versions reached and named, old versions that must be
refused (--refuse-tls-below), weak keys and signatures, every certificate the server sends
judged by -D, and both certificates of a server that holds an RSA and an ECDSA one
(--all-certificates), against scripted TLS servers.

Certificates are made at test time (tests/certificates.py): an RSA 1024 leaf, SHA-1 and MD5
signatures, an intermediate that expires long before its leaf, RSA and ECDSA chains.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable

import pytest
from certificates import DAY, NOW, Issued, issue, server_context, write_pem
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import (
    TIME,
    assert_status,
    assert_within,
    check_server,
)
from servers import Peer, ScriptedServer

BANNER = "banner: 220 tls.test ESMTP, helo: 250 tls.test"
LEVEL_0 = "DEFAULT:@SECLEVEL=0"  # what lets OpenSSL 3 serve TLS 1.0 and load weak certificates
TLS_1_0 = {"minimum_version": ssl.TLSVersion.TLSv1, "maximum_version": ssl.TLSVersion.TLSv1}
# what an old server offers: every version from TLS 1.0, at the security level that allows it
ALL_VERSIONS = {"minimum_version": ssl.TLSVersion.TLSv1, "ciphers": LEVEL_0}
INTERMEDIATE = "O=check_smtp_helo tests, CN=Test Intermediate"
# Python 3.9's ssl gives the server's certificate alone: the intermediates it sent are judged
# from Python 3.10 on (README, TLS)
needs_chain = pytest.mark.skipif(
    sys.version_info < (3, 10), reason="Python 3.9's ssl does not give the chain the server sent"
)


@pytest.fixture(scope="module")
def root() -> Issued:
    return issue("check_smtp_helo Posture Root", ca=True, rsa_key=True)


@pytest.fixture(scope="module")
def ca_file(root, tmp_path_factory) -> str:
    return write_pem(tmp_path_factory.mktemp("ca") / "ca.pem", root)


def leaf(root: Issued, **options) -> Issued:
    """A certificate for localhost from root: RSA 2048, 90 days, unless options say other."""
    options = {"rsa_key": True, "not_after": NOW + 90.05 * DAY, **options}
    return issue("localhost", issuer=root, **options)


def tls_smtp(context: ssl.SSLContext, implicit: bool = False) -> Callable[[Peer], None]:
    """A script: an SMTP server with STARTTLS (or implicit TLS) over context. After the
    handshake it reads on the TLS socket, so server.received holds the commands sent over TLS
    too; a failed handshake ends the connection."""

    def script(peer: Peer) -> None:
        if not implicit:
            peer.send(b"220 tls.test ESMTP\r\n")
            peer.line()
            peer.send(b"250-tls.test\r\n250 STARTTLS\r\n")
            peer.line()
            peer.send(b"220 2.0.0 Ready to start TLS\r\n")
        try:
            peer.conn = context.wrap_socket(peer.conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        if implicit:
            peer.send(b"220 tls.test ESMTP\r\n")
        peer.converse(
            {
                b"EHLO": b"250-tls.test\r\n250 AUTH PLAIN\r\n",
                b"AUTH": b"235 2.7.0 Authentication successful\r\n",
            }
        )

    return script


def run_against(context: ssl.SSLContext, *args: str, implicit: bool = False, **run: object):
    """The check (-S, or -s when implicit) against a scripted server; the run and the server."""
    with ScriptedServer(tls_smtp(context, implicit)) as server:
        mode = "-s" if implicit else "-S"
        return check_server(server.port, mode, *args, host="localhost", **run), server


MODERN = "TLSv1.3 (certificate expires in 90 days)"


def status(server: ScriptedServer, state: str, reason: str | None, tls: str = MODERN) -> str:
    head = f"SMTP {state} - localhost:{server.port} (127.0.0.1) answered in {TIME}"
    return f"{head}{': ' + reason if reason else ''}, {BANNER}, tls: {tls}"


# Versions, honestly: a server that speaks only TLS 1.0 is reached and named.


@pytest.mark.parametrize("trust", ["--ca-file", "--insecure"])
def test_tls_1_0_only_server_is_named_in_one_warning(root, ca_file, tmp_path, trust):
    context = server_context(tmp_path, leaf(root), ciphers=LEVEL_0, **TLS_1_0)
    options = [trust, ca_file] if trust == "--ca-file" else [trust]
    run, server = run_against(context, *options, "-v")
    reason = "server offers only TLS 1.0, below --min-tls 1.2"
    assert_status(
        run, 1, status(server, "WARNING", reason, "TLSv1 (certificate expires in 90 days)")
    )
    lowered = (
        "TLS: at OpenSSL security level 0, as the system's refused it: TLS handshake failed: "
        "server offers only TLS 1.0 or 1.1 with an MD5/SHA-1 signature, which this client refuses"
    )
    assert lowered in run.long
    assert any(
        line.startswith("TLS: TLSv1 (below the minimum TLS 1.2), cipher ECDHE-RSA-")
        for line in run.long
    )
    assert server.connections == 2  # at the system's level, then at level 0


@pytest.mark.parametrize("implicit", [False, True], ids=["STARTTLS", "implicit TLS"])
def test_min_tls_1_0_really_reaches_a_tls_1_0_server(root, ca_file, tmp_path, implicit):
    context = server_context(tmp_path, leaf(root), ciphers=LEVEL_0, **TLS_1_0)
    run, _server = run_against(context, "--ca-file", ca_file, "--min-tls", "1.0", implicit=implicit)
    assert run.code == 0, run
    assert run.status.endswith("tls: TLSv1 (certificate expires in 90 days)"), run


@pytest.mark.parametrize(("minimum", "sent"), [("1.2", False), ("1.0", True)])
def test_no_auth_is_sent_below_min_tls(root, ca_file, tmp_path, minimum, sent):
    context = server_context(tmp_path, leaf(root), ciphers=LEVEL_0, **TLS_1_0)
    environment = {"CHECK_SMTP_HELO_PASSWORD": "s3cret-posture"}
    run, server = run_against(
        context,
        "--ca-file",
        ca_file,
        "--min-tls",
        minimum,
        "--auth-user",
        "monitor",
        env=environment,
    )
    assert (b"AUTH " in server.received) is sent, server.received
    assert b"EHLO monitor.example.com\r\n" in server.received[server.received.find(b"STARTTLS") :]
    if sent:
        assert run.code == 0, run
        return
    reasons = "AUTH not sent: the session is below the minimum TLS, server offers only TLS 1.0, "
    reasons += "below --min-tls 1.2"
    head = f"SMTP CRITICAL - localhost:{server.port} (127.0.0.1) answered in {TIME}: {reasons}"
    assert_status(run, 2, f"{head}, {BANNER}, tls: TLSv1 (certificate expires in 90 days)")


def test_a_modern_server_needs_no_second_handshake(root, ca_file, tmp_path):
    run, server = run_against(server_context(tmp_path, leaf(root)), "--ca-file", ca_file)
    assert_status(run, 0, status(server, "OK", None))
    assert server.connections == 1


# --refuse-tls-below: one more handshake for each version below, each capped at it.


@pytest.mark.parametrize(
    ("limits", "below", "code", "reason"),
    [
        (ALL_VERSIONS, "1.2", 1, "server accepts TLS 1.0 and 1.1 (--refuse-tls-below 1.2)"),
        (ALL_VERSIONS, "1.1", 1, "server accepts TLS 1.0 (--refuse-tls-below 1.1)"),
        ({}, "1.2", 0, None),
        ({}, "1.3", 1, "server accepts TLS 1.2 (--refuse-tls-below 1.3)"),
    ],
    ids=["1.0 to 1.3, below 1.2", "1.0 to 1.3, below 1.1", "1.2 to 1.3", "1.2 accepted"],
)
def test_refuse_tls_below(root, ca_file, tmp_path, limits, below, code, reason):
    context = server_context(tmp_path, leaf(root), **limits)
    run, server = run_against(context, "--ca-file", ca_file, "--refuse-tls-below", below, "-v")
    state = ["OK", "WARNING"][code]
    assert_status(run, code, status(server, state, reason))
    tried = ["1.0", "1.1", "1.2"][: ["1.1", "1.2", "1.3"].index(below) + 1]
    assert server.connections == 1 + len(tried)
    words = [f"TLS {v} {'accepted' if reason and v in reason else 'refused'}" for v in tried]
    assert f"--refuse-tls-below {below}: {', '.join(words)}" in run.long


def test_refuse_tls_below_with_implicit_tls(root, ca_file, tmp_path):
    context = server_context(tmp_path, leaf(root), **ALL_VERSIONS)
    run, server = run_against(
        context, "--ca-file", ca_file, "--refuse-tls-below", "1.2", implicit=True
    )
    assert run.code == 1, run
    assert ": server accepts TLS 1.0 and 1.1 (--refuse-tls-below 1.2), " in run.status
    assert server.connections == 3


def test_refusal_handshakes_stay_within_the_timeout(root, ca_file, tmp_path):
    """The first conversation is answered; the later ones stall before the banner."""
    context = server_context(tmp_path, leaf(root), **ALL_VERSIONS)
    answer = tls_smtp(context)

    def first_only(peer: Peer) -> None:
        if peer.server.connections == 1:
            answer(peer)
        else:
            peer.hold()

    with ScriptedServer(first_only) as server:
        run = check_server(
            server.port,
            "-S",
            "--ca-file",
            ca_file,
            "--refuse-tls-below",
            "1.2",
            "-t",
            "2",
            host="localhost",
        )
    assert_within(run, 2)
    assert_status(
        run,
        2,
        status(
            server,
            "CRITICAL",
            "--refuse-tls-below 1.2: TLS 1.0 not tried: no banner within 2s (implicit TLS port? "
            "use -s)",
        ),
    )


# Keys and signatures, whatever --insecure says.


@pytest.mark.parametrize("trust", ["--ca-file", "--insecure"])
@pytest.mark.parametrize(
    ("options", "code", "reason", "key"),
    [
        ({"rsa_key": 1024}, 1, "certificate key is RSA 1024 bits, below 2048", "RSA 1024 bits"),
        ({"digest": "sha1"}, 2, "certificate signed with SHA-1", "RSA 2048 bits"),
        ({"digest": "md5"}, 2, "certificate signed with MD5", "RSA 2048 bits"),
        ({}, 0, None, "RSA 2048 bits"),
        ({"rsa_key": False, "curve": ec.SECP384R1()}, 0, None, "EC 384 bits (P-384)"),
    ],
    ids=["RSA 1024", "SHA-1", "MD5", "RSA 2048", "EC 384"],
)
def test_weak_keys_and_signatures_in_words(
    root, ca_file, tmp_path, trust, options, code, reason, key
):
    context = server_context(tmp_path, leaf(root, **options), ciphers=LEVEL_0)
    trusted = [trust, ca_file] if trust == "--ca-file" else [trust]
    run, server = run_against(context, *trusted, "-v")
    state = ["OK", "WARNING", "CRITICAL"][code]
    assert_status(run, code, status(server, state, reason))
    assert f"certificate key: {key}" in run.long
    digest = {"sha1": "SHA-1", "md5": "MD5"}.get(options.get("digest", ""), "SHA-256")
    assert f"certificate signature: {digest} with RSA" in run.long


@needs_chain
def test_sha1_intermediate_is_critical_and_named(root, ca_file, tmp_path):
    intermediate = issue(
        "Test Intermediate",
        ca=True,
        issuer=root,
        rsa_key=True,
        digest="sha1",
        not_after=NOW + 400 * DAY,
    )
    context = server_context(tmp_path, leaf(intermediate), intermediate, ciphers=LEVEL_0)
    run, server = run_against(context, "--ca-file", ca_file)
    reason = f"intermediate {INTERMEDIATE} signed with SHA-1"
    assert_status(run, 2, status(server, "CRITICAL", reason))


def test_a_self_signed_root_sent_along_is_not_judged(tmp_path):
    old_root = issue("Old Root", ca=True, rsa_key=True, digest="sha1", not_after=NOW + 400 * DAY)
    context = server_context(tmp_path, leaf(old_root), old_root)
    write_pem(tmp_path / "old.pem", old_root)
    run, server = run_against(context, "--ca-file", str(tmp_path / "old.pem"), "-D", "30")
    assert_status(run, 0, status(server, "OK", None))


# -D: every certificate the server sends; cert_days is the soonest expiry.


@pytest.mark.parametrize(
    ("days", "code", "reason"),
    [
        ([], 0, None),
        (["-D", "30,5"], 1, f"intermediate {INTERMEDIATE} expires in under 30 days (warning)"),
        (["-D", "30,11"], 2, f"intermediate {INTERMEDIATE} expires in under 11 days (critical)"),
    ],
)
@pytest.mark.parametrize("trust", ["--ca-file", "--insecure"])
@needs_chain
def test_intermediate_expiring_before_the_leaf(root, ca_file, tmp_path, days, code, reason, trust):
    intermediate = issue("Test Intermediate", ca=True, issuer=root, not_after=NOW + 10.05 * DAY)
    context = server_context(
        tmp_path, leaf(intermediate, not_after=NOW + 300.05 * DAY), intermediate
    )
    trusted = [trust, ca_file] if trust == "--ca-file" else [trust]
    run, server = run_against(context, *trusted, *days)
    state = ["OK", "WARNING", "CRITICAL"][code]
    tls = f"TLSv1.3 (intermediate {INTERMEDIATE} expires in 10 days)"
    assert_status(run, code, status(server, state, reason, tls))
    assert float(run.perfdata["cert_days"].value) == pytest.approx(10.05, abs=0.01)


@needs_chain
def test_expired_intermediate_with_insecure_is_critical(root, tmp_path):
    intermediate = issue(
        "Test Intermediate",
        ca=True,
        issuer=root,
        not_before=NOW - 400 * DAY,
        not_after=NOW - 2.05 * DAY,
    )
    context = server_context(tmp_path, leaf(intermediate), intermediate)
    run, server = run_against(context, "--insecure")
    reason = f"intermediate {INTERMEDIATE} expired"
    tls = f"TLSv1.3 (intermediate {INTERMEDIATE} expired 2 days ago)"
    assert_status(run, 2, status(server, "CRITICAL", reason, tls))


# Both certificates: one more handshake, TLS 1.2 with the other key type's suites.


def dual_context(tmp_path, rsa: list[Issued], ecdsa: list[Issued], **limits) -> ssl.SSLContext:
    """A server context that holds an RSA and an ECDSA chain, as Postfix and nginx can."""
    context = server_context(tmp_path / "rsa", *rsa, **limits)
    other = tmp_path / "ecdsa"
    other.mkdir()
    write_pem(other / "chain.pem", *ecdsa)
    ecdsa[0].write_key(other / "key.pem")
    context.load_cert_chain(other / "chain.pem", other / "key.pem")
    return context


@pytest.mark.parametrize(
    ("rsa_days", "ecdsa_days", "code", "reason", "tls"),
    [
        (
            5.05,
            90.05,
            2,
            "RSA certificate expires in under 14 days (critical)",
            "RSA certificate expires in 5 days",
        ),
        (
            90.05,
            20.05,
            1,
            "ECDSA certificate expires in under 30 days (warning)",
            "ECDSA certificate expires in 20 days",
        ),
        (90.05, 60.05, 0, None, "ECDSA certificate expires in 60 days"),
    ],
)
def test_all_certificates_judges_rsa_and_ecdsa(
    root, ca_file, tmp_path, rsa_days, ecdsa_days, code, reason, tls
):
    rsa = leaf(root, not_after=NOW + rsa_days * DAY)
    ecdsa = leaf(root, rsa_key=False, not_after=NOW + ecdsa_days * DAY)
    context = dual_context(tmp_path, [rsa], [ecdsa])
    run, server = run_against(
        context, "--ca-file", ca_file, "-D", "30,14", "--all-certificates", "-v"
    )
    state = ["OK", "WARNING", "CRITICAL"][code]
    assert_status(run, code, status(server, state, reason, f"TLSv1.3 ({tls})"))
    assert float(run.perfdata["cert_days"].value) == pytest.approx(
        min(rsa_days, ecdsa_days), abs=0.01
    )
    assert server.connections == 2
    assert "RSA certificate key: RSA 2048 bits" in run.long
    assert "ECDSA certificate key: EC 256 bits (P-256)" in run.long


def test_one_certificate_is_judged_without_the_option(root, ca_file, tmp_path):
    rsa = leaf(root, not_after=NOW + 5.05 * DAY)
    ecdsa = leaf(root, rsa_key=False)
    context = dual_context(tmp_path, [rsa], [ecdsa])
    run, server = run_against(context, "--ca-file", ca_file, "-D", "30,14")
    assert_status(run, 0, status(server, "OK", None))
    assert server.connections == 1


def test_all_certificates_with_a_single_certificate(root, ca_file, tmp_path):
    run, server = run_against(
        server_context(tmp_path, leaf(root)), "--ca-file", ca_file, "--all-certificates", "-v"
    )
    assert_status(
        run, 0, status(server, "OK", None, "TLSv1.3 (RSA certificate expires in 90 days)")
    )
    assert "ECDSA certificate: none (the server refused every ECDSA cipher suite)" in run.long


def test_weak_second_certificate_is_named_by_its_type(root, ca_file, tmp_path):
    rsa = leaf(root, rsa_key=1024)
    ecdsa = leaf(root, rsa_key=False)
    context = dual_context(tmp_path, [rsa], [ecdsa], ciphers=LEVEL_0)
    run, server = run_against(context, "--ca-file", ca_file, "--all-certificates")
    reason = "RSA certificate key is RSA 1024 bits, below 2048"
    assert_status(
        run, 1, status(server, "WARNING", reason, "TLSv1.3 (ECDSA certificate expires in 90 days)")
    )


def test_the_plugin_never_imports_cryptography(root, ca_file, tmp_path):
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from helpers import CHECK  # noqa: PLC0415

    with ScriptedServer(tls_smtp(server_context(tmp_path, leaf(root)))) as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-X",
                "importtime",
                CHECK,
                "-H",
                "localhost",
                "-p",
                str(server.port),
                "-S",
                "--ca-file",
                ca_file,
                "-D",
                "30",
                "--all-certificates",
                "--refuse-tls-below",
                "1.2",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert proc.returncode == 0, proc
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "ssl" in modules
    assert not any(name.startswith("cryptography") for name in modules)
