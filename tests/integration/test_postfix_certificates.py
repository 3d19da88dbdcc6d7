"""Integration: Postfix with smtpd_tls_chain_files holding an RSA and an ECDSA chain, as many
serve both: one handshake gets one of them, --all-certificates judges both; and the TLS
versions Debian's Postfix still accepts (--refuse-tls-below)."""

from __future__ import annotations

import shutil

import postfix
import pytest
from certificates import DAY, NOW, Issued, issue, write_pem
from helpers import TIME, assert_status, check_server, private_directory, unavailable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def root() -> Issued:
    return issue("check_smtp_helo Postfix Root", ca=True, rsa_key=True)


@pytest.fixture(scope="module")
def ca_file(root, tmp_path_factory) -> str:
    return write_pem(tmp_path_factory.mktemp("ca") / "ca.pem", root)


@pytest.fixture(scope="module")
def dual_postfix(root, ca_file):
    reason = postfix.missing()
    if reason:
        unavailable(reason)
    directory = private_directory("postfix-dual")
    intermediate = issue(
        "Test Intermediate", ca=True, issuer=root, rsa_key=True, not_after=NOW + 400 * DAY
    )
    rsa = issue("localhost", issuer=intermediate, rsa_key=True, not_after=NOW + 20.05 * DAY)
    ecdsa = issue("localhost", issuer=intermediate, not_after=NOW + 90.05 * DAY)
    chains = [
        (rsa.key_pem + rsa.pem + intermediate.pem).decode(),
        (ecdsa.key_pem + ecdsa.pem + intermediate.pem).decode(),
    ]
    modern = {"smtpd_tls_protocols": ">=TLSv1.2"}
    server = postfix.Postfix(directory, chains, services={"modern": modern})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize(
    ("extra", "code", "reason", "tls"),
    [
        ([], 0, None, "certificate expires in 90 days"),
        (
            ["--all-certificates"],
            1,
            "RSA certificate expires in under 30 days (warning)",
            "RSA certificate expires in 20 days",
        ),
    ],
)
def test_postfix_with_rsa_and_ecdsa_chains(dual_postfix, ca_file, extra, code, reason, tls):
    port = dual_postfix.plain
    run = check_server(
        port, "-S", "--ca-file", ca_file, "-D", "30,14", *extra, "-v", host="localhost", helo=False
    )
    state = ["OK", "WARNING"][code]
    head = f"SMTP {state} - localhost:{port} (127.0.0.1) answered in {TIME}"
    assert_status(
        run,
        code,
        f"{head}{': ' + reason if reason else ''}, banner: 220 mx.postfix.test ESMTP Postfix, "
        f"helo: 250 mx.postfix.test, tls: TLSv1.3 ({tls})",
    )
    assert float(run.perfdata["cert_days"].value) == pytest.approx(
        20.05 if extra else 90.05, abs=0.01
    )
    if extra:
        assert "RSA certificate key: RSA 2048 bits" in run.long
        assert "ECDSA certificate key: EC 256 bits (P-256)" in run.long


@pytest.mark.parametrize(
    ("service", "code", "found"),
    [
        ("plain", 1, "TLS 1.0 accepted, TLS 1.1 accepted"),
        ("modern", 0, "TLS 1.0 refused, TLS 1.1 refused"),
    ],
    ids=["Debian's defaults", "smtpd_tls_protocols >=TLSv1.2"],
)
def test_postfix_old_versions(dual_postfix, ca_file, service, code, found):
    """Debian 12's Postfix still accepts TLS 1.0 and 1.1 unless smtpd_tls_protocols says no."""
    port = dual_postfix.plain if service == "plain" else dual_postfix.ports[service]
    run = check_server(
        port,
        "-S",
        "--ca-file",
        ca_file,
        "--refuse-tls-below",
        "1.2",
        "-v",
        host="localhost",
        helo=False,
    )
    assert run.code == code, run
    if code:
        assert ": server accepts TLS 1.0 and 1.1 (--refuse-tls-below 1.2), " in run.status
    assert f"--refuse-tls-below 1.2: {found}" in run.long
