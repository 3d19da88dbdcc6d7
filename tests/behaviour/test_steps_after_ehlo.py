"""The steps after EHLO against scripted servers: what real servers rarely do on demand
(a temporary 4xx, a close after MAIL FROM, a 421, an echo of the AUTH response, a SCRAM
server that cannot prove itself). Postfix and Dovecot cover the usual cases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import ssl
import subprocess
import sys

import pytest
import trustme
from helpers import CHECK, TIME, assert_phases, assert_status, assert_within, run_check
from servers import Peer, Script, ScriptedServer, authenticator, smtpd

HELO = ["-F", "monitor.example.com"]
GREETING = "banner: 220 steps.test ESMTP, helo: 250 steps.test"
PASSWORD = {"CHECK_SMTP_HELO_PASSWORD": "pencil"}
AUTH_OFFERED = b"250-steps.test\r\n250 AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256\r\n"


def steps(replies: dict[bytes, list[bytes]]):
    """A script: the banner, then for each verb its replies in turn (the last one repeats);
    a verb without replies closes the connection."""

    def script(peer: Peer) -> None:
        peer.send(b"220 steps.test ESMTP\r\n")
        answers = {verb: list(lines) for verb, lines in replies.items()}
        while line := peer.line():
            verb = line.split(b":")[0].split()[0].upper() if line.strip() else b""
            if verb == b"QUIT":
                peer.send(b"221 2.0.0 Bye\r\n")
                return
            queue = answers.get(verb, [b"250 2.0.0 Ok\r\n"])
            if not queue:
                return
            peer.send(queue.pop(0) if len(queue) > 1 else queue[0])

    return script


def check(server: ScriptedServer, *args: str, env: dict | None = None):
    return run_check("-H", "127.0.0.1", "-p", str(server.port), *HELO, *args, env=env)


def test_a_temporary_refusal_is_a_warning_and_the_transaction_is_reset():
    script = steps({b"EHLO": [b"250 steps.test\r\n"],
                    b"RCPT": [b"450 4.2.0 <a@example.org>: Recipient address rejected: "
                              b"Greylisted\r\n"]})  # fmt: skip
    with ScriptedServer(script) as server:
        run = check(server, "--rcpt-to", "a@example.org", "-w", "1")
    assert_status(
        run,
        1,
        f"SMTP WARNING - 127.0.0.1:{server.port} answered in {TIME}: "
        f"RCPT TO:<a@example.org> answered 450 4.2.0, {GREETING}, mail: 450 4.2.0 "
        "<a@example.org>: Recipient address rejected: Greylisted",
    )
    assert_phases(
        run, {"dns", "connect", "banner", "helo", "mail", "time", "transaction"},
        time_thresholds=("1", ""),
    )  # fmt: skip
    assert server.received.endswith(b"MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRSET\r\nQUIT\r\n")


def test_mail_from_refused_is_critical_and_no_recipient_is_tried():
    """monitoring-plugins#1728: check_smtp says OK after a 530 to MAIL FROM."""
    refusal = b"530 5.7.57 Client not authenticated to send mail\r\n"
    script = steps({b"EHLO": [b"250 steps.test\r\n"], b"MAIL": [refusal]})
    with ScriptedServer(script) as server:
        run = check(server, "--mail-from", "nagios@example.org", "--rcpt-to", "a@example.org")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: "
        f"MAIL FROM:<nagios@example.org> answered 530 5.7.57, {GREETING}, "
        "mail: 530 5.7.57 Client not authenticated to send mail",
    )
    assert "transaction" not in run.perfdata
    assert b"RCPT" not in server.received and b"DATA" not in server.received


def test_a_close_after_mail_from_is_critical_and_keeps_the_response_time():
    script = steps({b"EHLO": [b"250 steps.test\r\n"], b"MAIL": []})
    with ScriptedServer(script) as server:
        run = check(server, "--rcpt-to", "a@example.org", "-t", "3")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: "
        f"server closed the connection after MAIL FROM, {GREETING}",
    )
    assert_phases(run, {"dns", "connect", "banner", "helo", "time"}, timeout="3")
    assert_within(run, 3)


def test_a_closing_421_ends_the_recipients_and_is_a_warning():
    script = steps({b"EHLO": [b"250 steps.test\r\n"],
                    b"RCPT": [b"250 2.1.5 Ok\r\n", b"421 4.3.2 Shutting down\r\n"]})  # fmt: skip
    with ScriptedServer(script) as server:
        run = check(server, *(f"--rcpt-to=u{n}@example.org" for n in range(3)))
    assert_status(
        run,
        1,
        f"SMTP WARNING - 127.0.0.1:{server.port} answered in {TIME}: RCPT TO:<u1@example.org> "
        f"answered 421 4.3.2, {GREETING}, mail: 421 4.3.2 Shutting down",
    )
    assert b"u2@example.org" not in server.received


def test_251_is_accepted_and_every_recipient_is_judged():
    script = steps({b"EHLO": [b"250 steps.test\r\n"],
                    b"RCPT": [b"251 2.1.5 User not local; will forward\r\n",
                              b"550 5.1.1 No such user\r\n",
                              b"250 2.1.5 Ok\r\n"]})  # fmt: skip
    with ScriptedServer(script) as server:
        run = check(server, *(f"--rcpt-to=u{n}@example.org" for n in range(3)), "-v")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: RCPT TO:<u1@example.org> "
        f"answered 550 5.1.1, {GREETING}, mail: 250 2.1.5 Ok",
    )
    assert run.long[-4:-1] == [
        "RCPT TO:<u0@example.org>: 251 2.1.5 User not local: will forward",  # ; made safe
        "RCPT TO:<u1@example.org>: 550 5.1.1 No such user",
        "RCPT TO:<u2@example.org>: 250 2.1.5 Ok",
    ]


def test_lmtp_never_falls_back_to_helo():
    script = steps({b"LHLO": [b"500 5.5.1 Unknown command\r\n"]})
    with ScriptedServer(script) as server:
        run = check(server, "-L", "--rcpt-to", "a@example.org")
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: LHLO reply is not 250, "
        "banner: 220 steps.test ESMTP, helo: 500 5.5.1 Unknown command",
    )
    assert server.received == b"LHLO monitor.example.com\r\nQUIT\r\n"


def test_a_server_that_echoes_the_auth_response_never_shows_the_secret():
    echo = base64.b64encode(b"\0monitor\0pencil")
    refusal = b"535 5.7.8 Bad credentials: " + echo + b" (pencil)\r\n"
    script = steps({b"EHLO": [AUTH_OFFERED], b"AUTH": [refusal]})
    with ScriptedServer(script) as server:
        run = check(server, "--auth-user", "monitor", "--allow-plaintext-auth",
                    "--auth-mechanism", "PLAIN", "-vvv", env=PASSWORD)  # fmt: skip
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: authentication failed "
        "(535 5.7.8), banner: 220 steps.test ESMTP, helo: 250 steps.test, "
        "auth: 535 5.7.8 Bad credentials: <secret hidden> (<secret hidden>)",
    )
    assert "C: AUTH PLAIN <secret hidden>" in run.long
    assert echo.decode() in server.received.decode()  # it was sent, and never shown
    assert echo.decode() not in run.stdout and "pencil" not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("reply", "code", "reason"),
    [
        (b"454 4.7.0 Temporary authentication failure", 1, "AUTH answered 454 4.7.0"),
        (b"534 5.7.9 Authentication mechanism is too weak", 2, "AUTH answered 534 5.7.9"),
    ],
)
def test_other_auth_refusals_by_class(reply, code, reason):
    script = steps({b"EHLO": [AUTH_OFFERED], b"AUTH": [reply + b"\r\n"]})
    with ScriptedServer(script) as server:
        run = check(server, "--auth-user", "monitor", "--allow-plaintext-auth", "--auth-mechanism",
                    "LOGIN", "--rcpt-to", "a@example.org", env=PASSWORD)  # fmt: skip
    state = ["OK", "WARNING", "CRITICAL"][code]
    assert_status(
        run,
        code,
        f"SMTP {state} - 127.0.0.1:{server.port} answered in {TIME}: {reason}, "
        f"banner: 220 steps.test ESMTP, helo: 250 steps.test, auth: {reply.decode()}",
    )
    assert b"MAIL FROM" not in server.received


def test_a_scram_server_that_cannot_prove_itself_is_critical():
    """The server's signature must match: a server that does not know the secret fails."""
    state: dict[str, bytes] = {}

    def script(peer: Peer) -> None:
        peer.send(b"220 steps.test ESMTP\r\n")
        peer.line()
        peer.send(AUTH_OFFERED)
        first = base64.b64decode(peer.line().split()[2])
        nonce = first.split(b"r=")[1] + b"server"
        salt = base64.b64encode(b"salt")
        peer.send(b"334 " + base64.b64encode(b"r=" + nonce + b",s=" + salt + b",i=4096") + b"\r\n")
        state["final"] = base64.b64decode(peer.line())
        peer.send(b"334 " + base64.b64encode(b"v=" + base64.b64encode(b"x" * 32)) + b"\r\n")
        state["cancel"] = peer.line()
        peer.send(b"501 5.7.0 Authentication aborted\r\n")
        peer.converse({})

    with ScriptedServer(script) as server:
        run = check(server, "--auth-user", "monitor", "--allow-plaintext-auth", env=PASSWORD)
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: protocol error: "
        "AUTH SCRAM-SHA-256: the server's signature does not verify: it does not know the "
        "secret, banner: 220 steps.test ESMTP, helo: 250 steps.test",
    )
    assert state["final"].startswith(b"c=biws,r=") and b",p=" in state["final"]
    assert state["cancel"] == b"*\r\n"
    assert server.received.endswith(b"QUIT\r\n")


def test_data_is_never_sent():
    script = steps({b"EHLO": [b"250 steps.test\r\n"]})
    with ScriptedServer(script) as server:
        run = check(server, "--mail-from", "a@example.org", "--rcpt-to", "b@example.org")
    assert run.code == 0, run
    assert server.received == (
        b"EHLO monitor.example.com\r\nMAIL FROM:<a@example.org>\r\n"
        b"RCPT TO:<b@example.org>\r\nRSET\r\nQUIT\r\n"
    )


def imported(server: ScriptedServer, *args: str, env: dict | None = None) -> set[str]:
    """The modules a check imports (python -X importtime)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", CHECK, "-H", "127.0.0.1", "-p", str(server.port),
         *HELO, *args],
        capture_output=True, text=True, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.returncode == 0, proc
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}


def test_only_auth_checks_import_the_sasl_code():
    """A plain check, and one with MAIL FROM and RCPT TO, pay nothing for AUTH."""
    with ScriptedServer(steps({b"EHLO": [AUTH_OFFERED], b"AUTH": [b"235 2.7.0 Ok\r\n"]})) as server:
        for args in ([], ["--mail-from", "a@example.org", "--rcpt-to", "b@example.org"]):
            assert not {"check_smtp_helo.smtp.sasl", "hmac", "hashlib"} & imported(server, *args)
        auth = imported(server, "--auth-user", "u", "--allow-plaintext-auth", "--auth-mechanism",
                        "PLAIN", env=PASSWORD)  # fmt: skip
    assert "check_smtp_helo.smtp.sasl" in auth


def test_a_server_that_stalls_after_the_password_times_out_without_showing_it():
    def script(peer: Peer) -> None:
        peer.send(b"220 steps.test ESMTP\r\n")
        peer.line()
        peer.send(AUTH_OFFERED)
        peer.line()
        peer.send(b"334 VXNlcm5hbWU6\r\n")
        peer.line()
        peer.send(b"334 UGFzc3dvcmQ6\r\n")
        peer.hold()

    with ScriptedServer(script) as server:
        run = check(server, "--auth-user", "monitor", "--allow-plaintext-auth", "--auth-mechanism",
                    "LOGIN", "-t", "2", "-vvv", env=PASSWORD)  # fmt: skip
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{server.port} answered in {TIME}: no AUTH reply within 2s, "
        "banner: 220 steps.test ESMTP, helo: 250 steps.test",
    )
    assert_within(run, 2)
    assert run.long.count("C: <secret hidden>") == 2
    assert base64.b64encode(b"pencil").decode() in server.received.decode()
    assert "pencil" not in run.stdout and "cGVuY2ls" not in run.stdout


def test_auth_is_never_sent_over_a_session_below_the_minimum_tls(tmp_path):
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tls = ["-H", "localhost", "-S", "--ca-file", str(tmp_path / "ca.pem"), "--auth-user", "monitor"]
    with smtpd(tls_context=context, authenticator=authenticator("monitor", "pencil")) as port:
        below = run_check(*tls, "-p", str(port), "--min-tls", "1.3", "-vv", env=PASSWORD)
        enough = run_check(*tls, "-p", str(port), "--min-tls", "1.2", env=PASSWORD)
    assert below.code == 2, below
    assert below.status.split(": ", 1)[1].startswith(
        "AUTH not sent: the session is below the minimum TLS, "
        "server offers at most TLS 1.2, below --min-tls 1.3, banner: "
    ), below
    assert not any(line.startswith("C: AUTH") for line in below.long), below
    assert enough.code == 0 and "auth: 235 2.7.0 Authentication successful" in enough.status


def test_a_challenge_that_contains_the_password_is_answered_as_sent():
    """Hiding the password in what is shown must not change the challenge the mechanism
    answers: here the password is a piece of the base64 challenge itself."""
    challenge = b"<1896.697170952@postoffice.example>"
    encoded = base64.b64encode(challenge)
    password = encoded[:4].decode()  # 'PDE4'
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest().encode()

    def script(peer: Peer) -> None:
        peer.send(b"220 steps.test ESMTP\r\n")
        peer.line()
        peer.send(AUTH_OFFERED)
        peer.line()
        peer.send(b"334 " + encoded + b"\r\n")
        answer = base64.b64decode(peer.line())
        peer.send(b"235 2.7.0 Ok\r\n" if answer == b"monitor " + digest else b"535 5.7.8 No\r\n")
        peer.converse({})

    with ScriptedServer(script) as server:
        run = check(server, "--auth-user", "monitor", "--allow-plaintext-auth", "--auth-mechanism",
                    "CRAM-MD5", "-vv", env={"CHECK_SMTP_HELO_PASSWORD": password})  # fmt: skip
    assert run.code == 0, run
    assert "S: 334 <secret hidden>" + encoded.decode()[4:] in run.long


SECRET = "s3cret-adv-42"


def _echo_scram_final(peer: Peer) -> None:
    """SCRAM as far as the server-final message, which reports the password as its error."""
    first = base64.b64decode(peer.line().split()[2])
    nonce = first.split(b"r=")[1] + b"server"
    salt = base64.b64encode(b"salt")
    peer.send(b"334 " + base64.b64encode(b"r=" + nonce + b",s=" + salt + b",i=4096") + b"\r\n")
    peer.line()
    peer.send(b"334 " + base64.b64encode(b"e=" + SECRET.encode()) + b"\r\n")


def _echo(mechanism: str, answer) -> Script:
    """A script that offers AUTH and, for the mechanism's steps, lets `answer` speak."""

    def script(peer: Peer) -> None:
        peer.send(b"220 steps.test ESMTP\r\n")
        peer.line()
        peer.send(AUTH_OFFERED)
        if mechanism == "SCRAM-SHA-256":
            _echo_scram_final(peer)
        else:
            peer.line()
            if mechanism == "LOGIN":  # the user name, then the password
                for prompt in (b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6"):
                    peer.send(b"334 " + prompt + b"\r\n")
                    peer.line()
            answer(peer)
        peer.converse({})

    return script


def _sends(data: bytes):
    return lambda peer: peer.send(data)


def _sends_and_holds(data: bytes):
    def answer(peer: Peer) -> None:
        peer.send(data)
        peer.hold()

    return answer


ECHOES = {
    "in the banner": ("PLAIN", None),
    "in a reply line": ("PLAIN", _sends(f"535 5.7.8 {SECRET} is wrong\r\n".encode())),
    "in a line that is not SMTP": ("LOGIN", _sends(f"{SECRET}\r\n".encode())),
    "at the start of a line without its end": ("PLAIN", _sends_and_holds(SECRET.encode())),
    "split over two sends": ("LOGIN", lambda peer: (peer.send(SECRET[:4].encode()),
                                                    _sends_and_holds(SECRET[4:].encode())(peer))),
    "in a SASL challenge": ("PLAIN", _sends(b"334 " + base64.b64encode(SECRET.encode()) +
                                            b"\r\n")),
    "in a plain SASL challenge": ("LOGIN", _sends(f"334 {SECRET}\r\n".encode())),
    "in the SCRAM server-final e=": ("SCRAM-SHA-256", None),
    "in a multi-line reply": ("PLAIN", _sends(f"535-5.7.8 no\r\n535 5.7.8 {SECRET}\r\n".encode())),
}  # fmt: skip


@pytest.mark.parametrize("verbosity", ["-v", "-vv", "-vvv"])
@pytest.mark.parametrize("case", ECHOES)
def test_the_password_never_appears_wherever_the_server_echoes_it(case, verbosity):
    """Every way a server's text reaches the output (the status line, reply lines, a line
    without its end, SASL challenges, SCRAM's error, the transcript and the long output):
    the password and what reveals it are hidden, whatever the server does with them."""
    mechanism, answer = ECHOES[case]
    script = _echo(mechanism, answer or _sends(b"535 5.7.8 no\r\n"))
    if answer is None and mechanism == "PLAIN":  # the banner itself holds it
        banner_script = script

        def script(peer: Peer) -> None:
            peer.send(f"220-{SECRET}\r\n".encode())
            banner_script(peer)

    with ScriptedServer(script) as server:
        run = check(server, "--auth-user", "monitor", "--allow-plaintext-auth", "--auth-mechanism",
                    mechanism, "-t", "2", verbosity,
                    env={"CHECK_SMTP_HELO_PASSWORD": SECRET})  # fmt: skip
    assert run.code in (1, 2), run
    assert run.status.startswith(("SMTP CRITICAL - ", "SMTP WARNING - ")), run
    assert "Traceback" not in run.stdout + run.stderr, run
    revealing = [SECRET, SECRET[:4], SECRET[4:], base64.b64encode(SECRET.encode()).decode(),
                 base64.b64encode(b"\0monitor\0" + SECRET.encode()).decode()]  # fmt: skip
    shown = run.stdout + run.stderr
    assert not [form for form in revealing if form in shown], run
    for word in re.findall(r"[A-Za-z0-9+/]{8,}", shown):  # base64 with the secret anywhere in it
        assert SECRET.encode() not in base64.b64decode(word[: len(word) // 4 * 4]), (word, run)
    if verbosity != "-v" or "challenge" not in case:  # -v shows no challenge
        assert "<secret hidden>" in shown, run  # the server's text did reach the output


@pytest.mark.parametrize(
    ("replies", "args", "before", "early"),
    [
        ({b"MAIL": [b"250 2.1.0 Ok\r\n250 2.1.5 early\r\n"], b"RCPT": [b"550 5.1.1 No\r\n"]},
         ["--rcpt-to", "a@example.org"], "RCPT TO:<a@example.org>", "250 2.1.5 early"),
        ({b"EHLO": [b"250 steps.test\r\n250 2.1.0 Ok\r\n"], b"MAIL": [b"550 5.7.1 No\r\n"]},
         ["--mail-from", "a@example.org"], "MAIL FROM:<a@example.org>", "250 2.1.0 Ok"),
    ],
)  # fmt: skip
def test_a_reply_that_comes_before_its_command_is_a_protocol_error(replies, args, before, early):
    """Only one command is ever in flight: bytes already waiting when the next one is due
    would be taken as its reply (a 250 where the server means 550)."""
    with ScriptedServer(steps({b"EHLO": [b"250 steps.test\r\n"], **replies})) as server:
        run = check(server, *args)
    assert run.code == 2, run
    assert f": protocol error: a reply came before {before} was sent: {early}, " in run.status
    assert run.status.startswith("SMTP CRITICAL - "), run
    assert before.encode() not in server.received and server.received.endswith(b"QUIT\r\n")
