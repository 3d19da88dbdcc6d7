"""Integration: MAIL FROM, RCPT TO, AUTH and LMTP against Debian's Postfix and Dovecot.

Dovecot runs privately with one account in a passwd-file: it is Postfix's SASL server (over a
loopback auth listener) and the LMTP server of the -L tests. Postfix knows local users
(unix:passwd.byname) for its domain, and has a submission service (STARTTLS required, AUTH
only over TLS) and a service that offers AUTH without TLS.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil

import dovecot
import postfix
import pytest
import trustme
from helpers import TIME, assert_phases, assert_status, private_directory, run_check, unavailable

pytestmark = pytest.mark.integration

USER, SECRET = "monitor", "s3cret pass-\u00e9"  # a space and a non-ASCII letter: sent as UTF-8
DOMAIN = "postfix.test"
POSTFIX_GREETING = "banner: 220 mx.postfix.test ESMTP Postfix, helo: 250 mx.postfix.test"
MAIL = {"dns", "connect", "banner", "helo", "time", "mail"}
MECHANISMS = ("SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN")


@pytest.fixture(scope="module")
def servers():
    """Dovecot, then Postfix using it for SASL; the CA file that verifies Postfix."""
    for reason in (dovecot.missing(), postfix.missing()):
        if reason:
            unavailable(reason)
    directory = private_directory("mail")  # Postfix's and Dovecot's daemons enter it
    (directory / "dovecot").mkdir()
    sasl = dovecot.Dovecot(directory / "dovecot", {USER: SECRET})
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert("localhost", "127.0.0.1", not_after=now + datetime.timedelta(days=90.05))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    sasl_service = {"smtpd_sasl_auth_enable": "yes", "smtpd_tls_auth_only": "no"}
    submission = {**sasl_service, "smtpd_tls_security_level": "encrypt"}
    submission["smtpd_tls_auth_only"] = "yes"
    # no TLS, and only the mechanisms that do not send the password itself
    plaintext_auth = {**sasl_service, "smtpd_tls_security_level": "none"}
    plaintext_auth["smtpd_sasl_security_options"] = "noanonymous,noplaintext"
    mta = postfix.Postfix(
        directory / "postfix",
        leaf.private_key_and_cert_chain_pem.bytes().decode(),
        services={"submission": submission, "plaintext_auth": plaintext_auth},
        mydestination=DOMAIN,
        alias_maps="",
        local_recipient_maps="proxy:unix:passwd.byname",
        smtpd_delay_reject="no",
        smtpd_sasl_type="dovecot",
        smtpd_sasl_path=f"inet:127.0.0.1:{sasl.auth}",
    )
    try:
        sasl.start()
        mta.start()
        yield mta, sasl, str(directory / "ca.pem")
    finally:
        mta.stop()
        sasl.stop()
        shutil.rmtree(directory, ignore_errors=True)


def auth_check(*args: str, env: dict | None = None):
    return run_check(*args, env={"CHECK_SMTP_HELO_PASSWORD": SECRET} if env is None else env)


def test_a_known_local_user_is_accepted(servers):
    mta, _sasl, _ca = servers
    run = run_check("-H", "127.0.0.1", "-p", str(mta.plain), "--rcpt-to", f"root@{DOMAIN}")
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{mta.plain} answered in {TIME}, {POSTFIX_GREETING}, "
        "mail: 250 2.1.5 Ok",
    )
    assert_phases(run, MAIL | {"transaction"})
    parts = ("connect", "banner", "helo", "mail")
    assert float(run.perfdata["transaction"].value) == pytest.approx(
        sum(float(run.perfdata[phase].value) for phase in parts), abs=4e-6
    )


def test_an_unknown_user_is_critical_with_the_enhanced_code(servers):
    mta, _sasl, _ca = servers
    run = run_check(
        "-H", "127.0.0.1", "-p", str(mta.plain), "--mail-from", f"nagios@{DOMAIN}",
        "--rcpt-to", f"root@{DOMAIN}", "--rcpt-to", f"nobody-here@{DOMAIN}", "-v",
    )  # fmt: skip
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{mta.plain} answered in {TIME}: "
        f"RCPT TO:<nobody-here@{DOMAIN}> answered 550 5.1.1, {POSTFIX_GREETING}, "
        f"mail: 550 5.1.1 <nobody-here@{DOMAIN}>: Recipient address rejected: "
        "User unknown in local recipient table",
    )
    assert f"MAIL FROM:<nagios@{DOMAIN}>: 250 2.1.0 Ok" in run.long
    assert f"RCPT TO:<root@{DOMAIN}>: 250 2.1.5 Ok" in run.long


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_each_mechanism_authenticates_over_starttls(servers, mechanism):
    mta, _sasl, ca = servers
    port = mta.ports["submission"]
    run = auth_check(
        "-H", "localhost", "-p", str(port), "-S", "--ca-file", ca, "--auth-user", USER,
        "--auth-mechanism", mechanism.lower(), "--rcpt-to", f"root@{DOMAIN}", "-v",
    )  # fmt: skip
    assert_status(
        run,
        0,
        f"SMTP OK - localhost:{port} (127.0.0.1) answered in {TIME}, {POSTFIX_GREETING}, "
        "tls: TLSv1.3 (certificate expires in 90 days), "
        "auth: 235 2.7.0 Authentication successful, mail: 250 2.1.5 Ok",
    )
    assert set(run.perfdata) == MAIL | {"tls", "auth", "transaction", "cert_days"}
    offered = "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"
    assert f"AUTH mechanism: {mechanism} (offered: {offered})" in run.long


def test_the_strongest_offered_mechanism_is_the_default(servers):
    mta, _sasl, ca = servers
    port = mta.ports["submission"]
    run = auth_check("-H", "localhost", "-p", str(port), "-S", "--ca-file", ca,
                     "--auth-user", USER, "-vv")  # fmt: skip
    assert run.code == 0, run
    assert "C: AUTH SCRAM-SHA-256 <secret hidden>" in run.long


def test_a_wrong_password_is_critical_authentication_failed(servers):
    mta, _sasl, ca = servers
    port = mta.ports["submission"]
    run = auth_check(
        "-H", "localhost", "-p", str(port), "-S", "--ca-file", ca, "--auth-user", USER,
        "--auth-mechanism", "PLAIN", "--rcpt-to", f"root@{DOMAIN}",
        env={"CHECK_SMTP_HELO_PASSWORD": "wrong"},
    )  # fmt: skip
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{port} (127.0.0.1) answered in {TIME}: "
        f"authentication failed (535 5.7.8), {POSTFIX_GREETING}, "
        "tls: TLSv1.3 (certificate expires in 90 days), "
        "auth: 535 5.7.8 Error: authentication failed: (reason unavailable)",
    )
    assert "mail" not in run.perfdata  # no MAIL FROM after a failed AUTH


def test_the_password_file_is_read_and_a_readable_one_is_warned_about(servers, tmp_path):
    mta, _sasl, ca = servers
    port = mta.ports["submission"]
    secret_file = tmp_path / "password"
    secret_file.write_text(f"{SECRET}\nsecond line is ignored\n")
    args = ["-H", "localhost", "-p", str(port), "-S", "--ca-file", ca, "--auth-user", USER,
            "--auth-password-file", str(secret_file), "-v"]  # fmt: skip
    note = f"warning: --auth-password-file '{secret_file}' can be read by every user (chmod o-r)"
    secret_file.chmod(0o644)
    run = run_check(*args, env={"CHECK_SMTP_HELO_PASSWORD": "the file wins"})
    assert run.code == 0, run
    assert note in run.long
    secret_file.chmod(0o640)
    run = run_check(*args)
    assert run.code == 0, run
    assert note not in run.long


def test_a_mechanism_not_offered_is_critical_naming_what_is(servers):
    mta, _sasl, _ca = servers
    port = mta.ports["plaintext_auth"]
    run = auth_check("-H", "127.0.0.1", "-p", str(port), "--auth-user", USER,
                     "--allow-plaintext-auth", "--auth-mechanism", "PLAIN")  # fmt: skip
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{port} answered in {TIME}: AUTH PLAIN not offered "
        f"(the server offers CRAM-MD5 SCRAM-SHA-256), {POSTFIX_GREETING}",
    )
    assert set(run.perfdata) == {"dns", "connect", "banner", "helo", "time"}


def test_auth_not_offered_at_all_is_critical(servers):
    mta, _sasl, ca = servers
    run = auth_check("-H", "localhost", "-p", str(mta.plain), "-S", "--ca-file", ca,
                     "--auth-user", USER)  # fmt: skip
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - localhost:{mta.plain} (127.0.0.1) answered in {TIME}: "
        f"AUTH not offered, {POSTFIX_GREETING}, tls: TLSv1.3 (certificate expires in 90 days)",
    )


def test_tls_only_auth_is_not_offered_before_tls_and_plaintext_auth_needs_its_option(servers):
    mta, _sasl, _ca = servers
    port = mta.ports["plaintext_auth"]
    args = ["-H", "127.0.0.1", "-p", str(port), "--auth-user", USER]
    run = auth_check(*args)
    assert_status(
        run,
        3,
        "SMTP UNKNOWN - --auth-user needs TLS (-S or -s): without it the password crosses the "
        "network readable (--allow-plaintext-auth allows that)",
    )
    run = auth_check(*args, "--allow-plaintext-auth", "-vv")
    assert "C: AUTH SCRAM-SHA-256 <secret hidden>" in run.long
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{port} answered in {TIME}, {POSTFIX_GREETING}, "
        "auth: 235 2.7.0 Authentication successful",
    )
    assert_phases(run, {"dns", "connect", "banner", "helo", "time", "auth"})


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_the_secret_is_never_shown_at_any_verbosity(servers, mechanism):
    mta, _sasl, ca = servers
    port = mta.ports["submission"]
    forms = {
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(f"\0{USER}\0{SECRET}".encode()).decode(),
    }
    for password in (SECRET, "wrong"):
        run = auth_check(
            "-H", "localhost", "-p", str(port), "-S", "--ca-file", ca, "--auth-user", USER,
            "--auth-mechanism", mechanism, "-vvv",
            env={"CHECK_SMTP_HELO_PASSWORD": password},
        )  # fmt: skip
        assert run.code == (0 if password == SECRET else 2), run
        assert f"C: AUTH {mechanism}" in run.stdout
        for form in forms:
            assert form not in run.stdout + run.stderr
        assert "<secret hidden>" in run.stdout


def test_lmtp_known_and_unknown_users(servers):
    _mta, sasl, _ca = servers
    run = run_check(
        "-H", "127.0.0.1", "-p", str(sasl.lmtp), "-L", "--rcpt-to", f"{USER}@dovecot.test",
        "--rcpt-to", "nobody@dovecot.test", "-vv",
    )  # fmt: skip
    name = dovecot.HOSTNAME
    greeting = f"banner: 220 {name} Dovecot (Debian) ready., helo: 250 {name}"
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{sasl.lmtp} answered in {TIME}: "
        f"RCPT TO:<nobody@dovecot.test> answered 550 5.1.1, {greeting}, "
        "mail: 550 5.1.1 <nobody@dovecot.test> User doesn't exist: nobody@dovecot.test",
    )
    assert f"RCPT TO:<{USER}@dovecot.test>: 250 2.1.5 OK" in run.long
    assert any(line.startswith("C: LHLO ") for line in run.long)
    assert "C: RSET" in run.long and "C: DATA" not in run.long


def test_lmtp_defaults_to_port_24():
    run = run_check("-H", "127.0.0.1", "-L", "-t", "2", "-vv")
    assert run.status.startswith("SMTP CRITICAL - 127.0.0.1:24"), run


def test_the_environment_is_the_only_way_in_no_password_in_argv(servers):
    mta, _sasl, ca = servers
    run = auth_check(
        "-H", "localhost", "-p", str(mta.ports["submission"]), "-S", "--ca-file", ca,
        "--auth-user", USER, "-P", SECRET,
    )  # fmt: skip
    assert_status(
        run,
        3,
        "SMTP UNKNOWN - -P/--auth-password: a password on the command line is visible to every "
        "user (ps) and in the monitoring core's logs: put it in the environment variable "
        "CHECK_SMTP_HELO_PASSWORD or in a file named by --auth-password-file",
    )
    assert SECRET not in run.stdout
    assert os.environ.get("CHECK_SMTP_HELO_PASSWORD") is None
