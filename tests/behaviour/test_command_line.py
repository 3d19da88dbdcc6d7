"""The installed console script: bad input is UNKNOWN with one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import HELO, LOOPBACK, TIME, assert_status, check_server, run_check
from servers import Peer, ScriptedServer

import check_smtp_helo

BAD_INPUT = [
    ([], "-H/--hostname (or --mx DOMAIN) is required (see --help)"),
    (["-H", ""], "host '' is empty or has white space or control characters"),
    (
        ["-H", "smtp://mx.example.com"],
        "host 'smtp://mx.example.com' has a scheme: give the bare name or address",
    ),
    (
        ["-H", "mx.example.com/inbox"],
        "host 'mx.example.com/inbox' has a path: give the bare name or address",
    ),
    (
        ["-H", "mx example.com"],
        "host 'mx example.com' is empty or has white space or control characters",
    ),
    (
        ["-H", "mx.example.com\x07"],
        "host 'mx.example.com\\x07' is empty or has white space or control characters",
    ),
    (
        ["-H", "mx.example.com:25"],
        "host 'mx.example.com:25' is not an address: give the port with -p",
    ),
    (["-H", "[127.0.0.1]"], "host '[127.0.0.1]': only an IPv6 address goes in brackets"),
    (["-H", "mx-.example.com"], "host 'mx-.example.com' is not a valid host name"),
    (["-H", "a" * 64 + ".example.com"], f"host '{'a' * 64}.example.com' is not a valid host name"),
    (["-H", "mx|x.example.com"], "host 'mx\\x7cx.example.com' is not a valid host name"),
    (["-H", "::1", "-4"], "-4 was given but '::1' is an IPv6 address"),
    (["-H", "127.0.0.1", "-6"], "-6 was given but '127.0.0.1' is an IPv4 address"),
    (["-H", "127.0.0.1", "-4", "-6"], "-4 and -6 exclude each other"),
    (["-H", "127.0.0.1", "-p", "0"], "-p/--port: '0' is not a port number (1..65535)"),
    (
        ["-H", "127.0.0.1", "-p", "65536"],
        "-p/--port: '65536' is not a port number (1..65535)",
    ),
    (
        ["-H", "127.0.0.1", "-p", "smtp"],
        "-p/--port: 'smtp' is not a port number (1..65535)",
    ),
    (
        ["-H", "127.0.0.1", "-w", "fast"],
        "-w/--warning: 'fast' is not a Nagios range such as 1, 0.5, ~:2, @1:2",
    ),
    (
        ["-H", "127.0.0.1", "-c", "1e3"],
        "-c/--critical: '1e3' is not a Nagios range such as 1, 0.5, ~:2, @1:2",
    ),
    (
        ["-H", "127.0.0.1", "-w", "5:1"],
        "-w/--warning: '5:1': start 5 must not be greater than end 1",
    ),
    (
        ["-H", "127.0.0.1", "-w", "2", "-c", "1"],
        "-w/--warning 2 is above -c/--critical 1: WARNING could never show",
    ),
    (
        ["-H", "127.0.0.1", "-w", "0:2.5", "-c", "0.5"],
        "-w/--warning 2.5 is above -c/--critical 0.5: WARNING could never show",
    ),
    (
        ["-H", "127.0.0.1", "-t", "0"],
        "-t/--timeout: '0' is not a number of seconds above 0",
    ),
    (
        ["-H", "127.0.0.1", "-t", "nan"],
        "-t/--timeout: 'nan' is not a number of seconds above 0",
    ),
    (
        ["-H", "127.0.0.1", "-t", "inf"],
        "-t/--timeout: 'inf' is not a number of seconds above 0",
    ),
    (
        ["-H", "127.0.0.1", "--timeout-state", "maybe"],
        "--timeout-state: 'maybe' is not one of ok, warning, critical, unknown",
    ),
    (
        ["-H", "127.0.0.1", "-e", "(unclosed"],
        "-e/--expect: '(unclosed' is not a regular "
        "expression: missing ), unterminated subpattern at position 0",
    ),
    (
        ["-H", "127.0.0.1", "-F", "two words"],
        "-F 'two words' is empty or has white space or control characters",
    ),
    (["-H", "127.0.0.1", "-F", "[192.0.2]"], "-F '[192.0.2]' is not an address literal"),
    (
        ["-H", "127.0.0.1", "--email", "monitor"],
        "--email 'monitor' is not an address of the form user@domain",
    ),
    (
        ["-H", "127.0.0.1", "--email", "@example.org"],
        "--email '@example.org' is not an address of the form user@domain",
    ),
    (
        ["-H", "127.0.0.1", "--email", "a@bad_domain-"],
        "the domain of --email 'bad_domain-' is not a valid host name",
    ),
    (["-H", "127.0.0.1", "--bogus"], "unknown option '--bogus' (see --help)"),
    (["-H", "127.0.0.1", "--time", "3"], "unknown option '--time' (see --help)"),
    (["-H", "127.0.0.1", "-x"], "unknown option '-x' (see --help)"),
    (["-H", "127.0.0.1", "-vx"], "unknown option '-x' (see --help)"),
    (
        ["-H", "127.0.0.1", "mx.example.com"],
        "unexpected argument 'mx.example.com': give the host once, with -H or alone",
    ),
    (
        ["mx.example.com", "mx2.example.com"],
        "unexpected argument 'mx2.example.com': give the host once, with -H or alone",
    ),
    (
        ["-H", "127.0.0.1", "--", "-v"],
        "unexpected argument '--': give the host once, with -H or alone",
    ),
    (["-H", "127.0.0.1", "-p"], "-p/--port needs a value (PORT)"),
    (["-H", "127.0.0.1", "--helo=yes"], "--helo takes no value"),
    (["-H", "127.0.0.1", "-t", " 5"], "-t/--timeout: ' 5' is not a number of seconds above 0"),
    (
        ["-H", "127.0.0.1", "--rcpt-to", "root"],
        "--rcpt-to: 'root' is not an address of the form user@domain",
    ),
    (
        ["-H", "127.0.0.1", "--rcpt-to", "a b@example.org"],
        "--rcpt-to: 'a b@example.org' is not an address of the form user@domain",
    ),
    (
        ["-H", "127.0.0.1", "--mail-from", "<a@example.org>"],
        "--mail-from: '<a@example.org>' is not an address of the form user@domain",
    ),
    (
        ["-H", "127.0.0.1", "--mail-from", "a@exa_mple..org"],
        "--mail-from: the domain 'exa_mple..org' is not a valid host name",
    ),
    (
        ["-H", "127.0.0.1", "--rcpt-to", "a@example.org\r\nDATA"],
        "--rcpt-to: 'a@example.org\\r\\nDATA' must not contain CR, LF or NUL",
    ),
    (["-H", "127.0.0.1", "-L", "--helo"], "-L/--lmtp and --helo exclude each other"),
    (
        ["-H", "127.0.0.1", "--auth-mechanism", "digest-md5"],
        "--auth-mechanism: 'digest-md5' is not one of SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN",
    ),
    (
        ["-H", "127.0.0.1", "--auth-user", "u"],
        "--auth-user needs TLS (-S or -s): without it the password crosses the network readable "
        "(--allow-plaintext-auth allows that)",
    ),
    (
        ["-H", "127.0.0.1", "--auth-user", "u", "-S"],
        "--auth-user needs the password: in the environment variable CHECK_SMTP_HELO_PASSWORD "
        "or in the first line of the file named by --auth-password-file",
    ),
    (
        ["-H", "127.0.0.1", "--auth-user", "u", "-s", "--auth-password-file", "/nonexistent"],
        "cannot use --auth-password-file '/nonexistent': No such file or directory",
    ),
    (
        ["-H", "127.0.0.1", "--auth-user", ""],
        "--auth-user: the user name must not be empty nor contain CR, LF or NUL",
    ),
]
PASSWORD_REFUSED = (
    "SMTP UNKNOWN - {flag}: a password on the command line is visible to every user (ps) and "
    "in the monitoring core's logs: put it in the environment variable CHECK_SMTP_HELO_PASSWORD "
    "or in a file named by --auth-password-file"
)


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_unknown_with_one_line(args, message):
    run = run_check(*args)
    assert_status(run, 3, f"SMTP UNKNOWN - {message}")
    assert run.lines == [run.status]
    assert run.stderr == ""


@pytest.mark.parametrize("option", ["-h", "--help"])
def test_help_exits_unknown_like_monitoring_plugins(option):
    run = run_check(option)
    assert run.code == 3
    assert run.lines[0] == "usage: check_smtp_helo -H HOST [options]"
    for documented in ("--email", "--helo", "--timeout-state", "-F NAME", "-e REGEX"):
        assert documented in run.stdout


def test_version():
    run = run_check("-V")
    assert (run.code, run.stdout) == (3, f"check_smtp_helo {check_smtp_helo.__version__}\n")


def test_python_dash_m_runs_the_same_command():
    proc = subprocess.run(
        [sys.executable, "-m", "check_smtp_helo", "-H", "bad host"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (
        3,
        "SMTP UNKNOWN - host 'bad host' is empty or has white space or control characters\n",
    )


def _record(peer: Peer) -> None:
    peer.send(b"220 record.test ESMTP\r\n")
    peer.converse({b"EHLO": b"250 record.test\r\n", b"HELO": b"250 record.test\r\n"})


@pytest.mark.parametrize(
    ("args", "sent"),
    [
        (["--email", "nagios@example.org"], b"EHLO example.org\r\n"),
        (
            ["--email", "nagios@example.org", "-F", "probe.example.net"],
            b"EHLO probe.example.net\r\n",
        ),
        (["-F", "b\u00fccher.example"], b"EHLO xn--bcher-kva.example\r\n"),
        (["-F", "[IPv6:2001:db8::1]", "--helo"], b"HELO [IPv6:2001:db8::1]\r\n"),
    ],
)
def test_helo_argument_on_the_wire(args, sent):
    with ScriptedServer(_record) as recorder:
        run = check_server(recorder.port, *args, helo=False)
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{recorder.port} answered in {TIME}, "
        "banner: 220 record.test ESMTP, helo: 250 record.test",
    )
    assert recorder.received == sent + b"QUIT\r\n"


@pytest.mark.parametrize(
    "args",
    [
        ["-H", "127.0.0.1", "-p", "{port}", "-vv", "-w", "1"],
        ["-H127.0.0.1", "-p{port}", "-vvw1"],
        ["--hostname=127.0.0.1", "--port={port}", "--verbose", "-v", "--warning=1"],
        ["-4vv", "-H", "127.0.0.1", "--port", "{port}", "-w1"],
    ],
)
def test_spellings_of_the_same_options(args):
    """Values attached or apart, --option=value, bundled flags: as getopt_long reads them."""
    with ScriptedServer(_record) as recorder:
        run = run_check(*(arg.format(port=recorder.port) for arg in args))
    assert run.code == 0, run
    assert run.perfdata["time"].warn == "1"
    assert "C: EHLO [127.0.0.1]" in run.long or any(
        line.startswith("C: EHLO ") for line in run.long
    )


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (["-D", "30"], "-D/--certificate-days ignored: it needs -S or -s"),
        (["--sni", "mx.example.com"], "--sni ignored: it needs -S or -s"),
        (["--ca-file", "/nonexistent.pem", "--insecure"], "--ca-file ignored: it needs -S or -s"),
        (["--auth-mechanism", "PLAIN"], "--auth-mechanism ignored: it needs --auth-user"),
        (["--auth-password-file", "/x"], "--auth-password-file ignored: it needs --auth-user"),
        (["--allow-plaintext-auth"], "--allow-plaintext-auth ignored: it needs --auth-user"),
    ],
)
def test_tls_and_auth_options_without_tls_or_auth_are_ignored_with_a_note(args, note):
    """A TLS or AUTH option set once on a host must not turn its plain services UNKNOWN."""
    with ScriptedServer(_record) as recorder:
        quiet = check_server(recorder.port, *args, helo=False)
        verbose = check_server(recorder.port, "-v", *args, helo=False)
    assert quiet.code == verbose.code == 0, (quiet, verbose)
    assert quiet.long == []
    assert note in verbose.long, verbose


def test_a_single_argument_is_the_host_as_in_check_smtp():
    with ScriptedServer(_record) as recorder:
        run = run_check("-p", str(recorder.port), *HELO, LOOPBACK)
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{recorder.port} answered in {TIME}, "
        "banner: 220 record.test ESMTP, helo: 250 record.test",
    )


@pytest.mark.parametrize(
    "args",
    [["-P", "hunter2"], ["-Phunter2"], ["--auth-password", "hunter2"], ["--auth-password=hunter2"]],
)
def test_a_password_on_the_command_line_is_refused(args):
    """Migrating check_smtp users will try -P: it is refused, naming the two ways that work."""
    with ScriptedServer(_record) as recorder:
        run = run_check("-H", "127.0.0.1", "-p", str(recorder.port), "-S", "--auth-user", "u",
                        *args, env={"CHECK_SMTP_HELO_PASSWORD": "hunter2"})  # fmt: skip
    assert_status(run, 3, PASSWORD_REFUSED.format(flag="-P/--auth-password"))
    assert "hunter2" not in run.stdout + run.stderr
    assert recorder.connections == 0


def test_lmtp_mail_and_auth_options_are_in_help():
    run = run_check("--help")
    for documented in ("-L, --lmtp", "--mail-from ADDRESS", "--rcpt-to ADDRESS", "--auth-user USER",
                       "--auth-password-file PATH", "--auth-mechanism NAME",
                       "--allow-plaintext-auth", "CHECK_SMTP_HELO_PASSWORD"):  # fmt: skip
        assert documented in run.stdout
