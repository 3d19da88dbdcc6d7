"""Integration: the check against Debian's Postfix, plain, STARTTLS and wrapper-mode TLS.

Postfix is strict here on purpose (smtpd_delay_reject=no, reject_non_fqdn_helo_hostname), as
many production MTAs are: it proves the EHLO argument the plugin sends is accepted.
"""

from __future__ import annotations

import datetime
import shutil
import sys

import postfix
import pytest
import trustme
from helpers import (
    LOOPBACK,
    TIME,
    Run,
    assert_phases,
    assert_status,
    check_server,
    private_directory,
    unavailable,
)

pytestmark = pytest.mark.integration

BANNER = "banner: 220 mx.postfix.test ESMTP Postfix, helo: 250 mx.postfix.test"
PLAIN = {"dns", "connect", "banner", "helo", "time"}
TLS = PLAIN | {"tls", "cert_days"}


def check_postfix(port: int, *extra: str, host: str = "localhost") -> Run:
    """The plugin against Postfix, with the EHLO argument it would choose itself."""
    return check_server(port, *extra, host=host, helo=False)


@pytest.fixture(scope="module")
def mta():
    """A running private Postfix and the CA file that verifies its certificate."""
    reason = postfix.missing()
    if reason:
        unavailable(reason)
    directory = private_directory("postfix")  # Postfix's daemons run as postfix and enter it
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert("localhost", "127.0.0.1", not_after=now + datetime.timedelta(days=90.05))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    server = postfix.Postfix(
        directory,
        leaf.private_key_and_cert_chain_pem.bytes().decode(),
        smtpd_helo_required="yes",
        smtpd_delay_reject="no",
        smtpd_helo_restrictions="reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname",
    )
    try:
        server.start()
        yield server, str(directory / "ca.pem")
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_plain_ok(mta):
    server, _ca = mta
    run = check_postfix(server.plain, "-w", "1", "-c", "2")
    assert_status(
        run, 0, f"SMTP OK - localhost:{server.plain} (127.0.0.1) answered in {TIME}, {BANNER}"
    )
    assert_phases(run, PLAIN, time_thresholds=("1", "2"))


def test_starttls_ok(mta):
    server, ca = mta
    run = check_postfix(server.plain, "-S", "--ca-file", ca, "-v")
    assert_status(
        run,
        0,
        f"SMTP OK - localhost:{server.plain} (127.0.0.1) answered in {TIME}, "
        f"{BANNER}, tls: TLSv1.3 (certificate expires in 90 days)",
    )
    assert set(run.perfdata) == TLS
    assert "EHLO before TLS: 250-STARTTLS" in run.long


def test_wrapper_mode_tls_ok(mta):
    server, ca = mta
    run = check_postfix(server.smtps, "--tls", "--ca-file", ca, host=LOOPBACK)
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{server.smtps} answered in {TIME}, {BANNER}, "
        "tls: TLSv1.3 (certificate expires in 90 days)",
    )
    assert set(run.perfdata) == TLS


@pytest.mark.parametrize(
    ("days", "code", "reason", "warn", "crit"),
    [
        ("400", 1, "certificate expires in under 400 days (warning)", "400:", ""),
        ("400,200", 2, "certificate expires in under 200 days (critical)", "400:", "200:"),
    ],
)
@pytest.mark.parametrize("mode", ["-S", "-s"])
def test_certificate_days_above_the_certificate_life(mta, mode, days, code, reason, warn, crit):
    server, ca = mta
    port = server.plain if mode == "-S" else server.smtps
    args = (mode, "--ca-file", ca, "-D", days, "-w", "1", "-c", "2")
    run = check_postfix(port, *args)
    state = ["OK", "WARNING", "CRITICAL"][code]
    assert_status(
        run,
        code,
        f"SMTP {state} - localhost:{port} (127.0.0.1) answered in {TIME}: "
        f"{reason}, {BANNER}, tls: TLSv1.3 (certificate expires in 90 days)",
    )
    assert set(run.perfdata) == TLS
    assert (run.perfdata["cert_days"].warn, run.perfdata["cert_days"].crit) == (warn, crit)
    assert (run.perfdata["time"].warn, run.perfdata["time"].crit) == ("1", "2")


def test_unknown_ca_is_critical(mta):
    server, _ca = mta
    run = check_postfix(server.smtps, "-s")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{server.smtps} (127.0.0.1): TLS certificate "
        "not trusted: unable to get local issuer certificate"
        + (", no intermediate sent" if sys.version_info >= (3, 10) else "")
        + " (private CA? use --ca-file)",
    )


def test_strict_postfix_accepts_the_email_domain_and_rejects_a_bare_name(mta):
    server, _ca = mta
    run = check_postfix(server.plain, "--email", "nagios@example.org")
    assert run.code == 0, run
    run = check_postfix(server.plain, "-F", "vm")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{server.plain} (127.0.0.1) answered in "
        f"{TIME}: EHLO reply is not 250, banner: 220 mx.postfix.test ESMTP Postfix, "
        "helo: 504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname",
    )
    run = check_postfix(server.plain)  # the default argument
    assert run.code == 0, run
