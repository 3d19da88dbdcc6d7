"""The check against real SMTP servers on loopback: aiosmtpd, and scripted misbehaving peers."""

from __future__ import annotations

import socket

import pytest
from helpers import (
    HELO,
    TIME,
    assert_phases,
    assert_status,
    assert_within,
    check_server,
    run_check,
)
from servers import Peer, ScriptedServer, free_port, smtpd, trickle

ALL_PHASES = {"dns", "connect", "banner", "helo", "time"}
BANNER = "220 mx.test ESMTP aiosmtpd"


@pytest.fixture(scope="module")
def server():
    with smtpd(ident="ESMTP aiosmtpd") as port:
        yield port


@pytest.fixture(scope="module")
def slow_server():
    with smtpd(ehlo_delay=0.3, ident="ESMTP aiosmtpd") as port:
        yield port


def scripted(banner: bytes, replies: dict[bytes, bytes] | None = None):
    """A script: send the banner, then answer commands by verb."""

    def script(peer: Peer) -> None:
        peer.send(banner)
        peer.converse(replies or {b"EHLO": b"250 scripted.test\r\n"})

    return script


def test_ok_with_thresholds(server):
    run = check_server(server, "-w", "1", "-c", "2")
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{server} answered in {TIME}, banner: {BANNER}, helo: 250 mx.test",
    )
    assert_phases(run, ALL_PHASES, time_thresholds=("1", "2"))
    assert run.long == []
    # The status line gives the measured time in milliseconds below one second.
    milliseconds = float(run.perfdata["time"].value) * 1000
    assert f" answered in {milliseconds:.1f} ms, " in run.status


def test_ok_by_name_shows_address(server):
    run = check_server(server, host="localhost")
    assert_status(
        run,
        0,
        f"SMTP OK - localhost:{server} (127.0.0.1) answered in {TIME}, "
        f"banner: {BANNER}, helo: 250 mx.test",
    )
    assert_phases(run, ALL_PHASES)


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_ok_over_ipv6(host):
    with smtpd("::1", ident="ESMTP aiosmtpd") as port:
        run = check_server(port, "-6", host=host)
    assert_status(
        run, 0, f"SMTP OK - [::1]:{port} answered in {TIME}, banner: {BANNER}, helo: 250 mx.test"
    )


def test_response_time_is_the_sum_of_connect_banner_and_helo(server):
    run = check_server(server)
    parts = sum(float(run.perfdata[phase].value) for phase in ("connect", "banner", "helo"))
    assert float(run.perfdata["time"].value) == pytest.approx(parts, abs=2e-6)


@pytest.mark.parametrize(
    ("warning", "critical", "code", "reason"),
    [
        ("0.2", "5", 1, "response time outside warning range 0.2"),
        ("0.1", "0.2", 2, "response time outside critical range 0.2"),
        ("@0.2:5", "", 1, "response time inside warning range @0.2:5"),
        ("~:5", "0.25:", 0, None),
    ],
)
def test_response_time_thresholds(slow_server, warning, critical, code, reason):
    run = check_server(slow_server, "-w", warning, *(["-c", critical] if critical else []))
    state = ["OK", "WARNING", "CRITICAL"][code]
    why = f": {reason}" if reason else ""
    assert_status(
        run,
        code,
        f"SMTP {state} - 127.0.0.1:{slow_server} answered in {TIME}{why}, "
        f"banner: {BANNER}, helo: 250 mx.test",
    )
    assert float(run.perfdata["helo"].value) >= 0.3
    assert_phases(run, ALL_PHASES, time_thresholds=(warning, critical))


def test_expect_matches_any_banner_line(server):
    run = check_server(server, "-e", "^220 mx\\.test ESMTP")
    assert run.code == 0, run
    run = check_server(server, "-e", "Exim|Sendmail")
    assert_status(
        run,
        1,
        f"SMTP WARNING - 127.0.0.1:{server} answered in {TIME}: banner does "
        f"not match -e, banner: {BANNER}, helo: 250 mx.test",
    )
    assert_phases(run, ALL_PHASES)


def test_verbose_shows_banner_capabilities_and_address(server):
    run = check_server(server, "-v")
    assert run.code == 0, run
    assert run.long[:7] == [
        f"address: 127.0.0.1 port {server}",
        f"banner: {BANNER}",
        "EHLO argument: monitor.example.com",
        "EHLO: 250-mx.test",
        "EHLO: 250-SIZE 33554432",
        "EHLO: 250-8BITMIME",
        "EHLO: 250-SMTPUTF8",
    ]
    assert run.long[7] == "EHLO: 250 HELP"
    assert run.long[8].startswith("timings: dns ")
    assert len(run.long) == 9
    assert_phases(run, ALL_PHASES)


def test_very_verbose_adds_the_transcript(server):
    run = check_server(server, "-vv", "--email", "nagios@example.org", helo=False)
    assert run.code == 0, run
    transcript = [line for line in run.long if line[:3] in ("C: ", "S: ")]
    assert transcript == [
        f"S: {BANNER}",
        "C: EHLO example.org",
        "S: 250-mx.test",
        "S: 250-SIZE 33554432",
        "S: 250-8BITMIME",
        "S: 250-SMTPUTF8",
        "S: 250 HELP",
        "C: QUIT",
        "S: 221 Bye",
    ]


def test_helo_option_says_plain_helo(server):
    run = check_server(server, "--helo", "-vv")
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{server} answered in {TIME}, banner: {BANNER}, helo: 250 mx.test",
    )
    assert "C: HELO monitor.example.com" in run.long


def test_default_helo_argument_is_fqdn_or_address_literal(server):
    run = check_server(server, "-v", helo=False)
    name = socket.gethostname()
    real_fqdn = "." in name and not name.startswith("localhost")
    assert f"EHLO argument: {name if real_fqdn else '[127.0.0.1]'}" in run.long


def test_ehlo_refused_falls_back_to_helo():
    replies = {b"EHLO": b"502 5.5.1 What?\r\n", b"HELO": b"250 old.test\r\n"}
    with ScriptedServer(scripted(b"220 old.test SMTP\r\n", replies)) as peer:
        run = check_server(peer.port, "-v")
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{peer.port} answered in {TIME}, "
        "banner: 220 old.test SMTP, helo: 250 old.test",
    )
    assert "EHLO refused (502 5.5.1 What?), HELO tried instead" in run.long
    assert "HELO: 250 old.test" in run.long
    assert peer.received == b"EHLO monitor.example.com\r\nHELO monitor.example.com\r\nQUIT\r\n"


def test_multi_line_banner():
    banner = b"220-multi.test ESMTP\r\n220-no UCE\r\n220 last line\r\n"
    with ScriptedServer(scripted(banner)) as peer:
        run = check_server(peer.port, "-v")
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{peer.port} answered in {TIME}, "
        "banner: 220 multi.test ESMTP, helo: 250 scripted.test",
    )
    assert run.long[1:4] == [
        "banner: 220-multi.test ESMTP",
        "banner: 220-no UCE",
        "banner: 220 last line",
    ]


def test_banner_with_pipe_keeps_perfdata_intact():
    with ScriptedServer(scripted(b"220 pipe.test ESMTP | evil=1s;2;3\r\n")) as peer:
        run = check_server(peer.port)
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{peer.port} answered in {TIME}, "
        "banner: 220 pipe.test ESMTP / evil=1s:2:3, helo: 250 scripted.test",
    )
    assert run.stdout.count("|") == 1
    assert_phases(run, ALL_PHASES)


def test_semicolons_from_the_server_never_reach_the_output():
    """Nagios turns each ';' into ':'; the plugin does so itself, on every line."""
    ehlo = b"250-semi;colon.test\r\n250 SIZE;1\r\n"
    with ScriptedServer(scripted(b"220 a;b ESMTP\r\n", {b"EHLO": ehlo})) as peer:
        run = check_server(peer.port, "-vv")
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{peer.port} answered in {TIME}, "
        "banner: 220 a:b ESMTP, helo: 250 semi:colon.test",
    )
    assert "S: 250 SIZE:1" in run.long and "EHLO: 250 SIZE:1" in run.long, run
    assert ";" not in run.status and not any(";" in line for line in run.long), run


def test_a_long_refusal_is_clipped_on_the_status_line():
    refusal = b"554 " + b"no;" * 300 + b"\r\n"
    with ScriptedServer(scripted(b"220 mx.test ESMTP\r\n", {b"EHLO": refusal})) as peer:
        run = check_server(peer.port)
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{peer.port} answered in {TIME}: EHLO reply is not 250, "
        f"banner: 220 mx.test ESMTP, helo: {('554 ' + 'no:' * 300)[:117]}...",
    )


def test_non_ascii_banner_is_shown_safely():
    with ScriptedServer(scripted("220 café.test ESMTP\x1b[31m\r\n".encode())) as peer:
        run = check_server(peer.port)
    assert_status(
        run,
        0,
        f"SMTP OK - 127.0.0.1:{peer.port} answered in {TIME}, "
        "banner: 220 caf??.test ESMTP?[31m, helo: 250 scripted.test",
    )


@pytest.mark.parametrize(
    ("banner", "shown"),
    [
        (b"554 5.3.2 No SMTP service here\r\n", "554 5.3.2 No SMTP service here"),
        (b"421 4.3.2 Shutting down\r\n", "421 4.3.2 Shutting down"),
    ],
)
def test_banner_other_than_220_is_critical(banner, shown):
    with ScriptedServer(scripted(banner)) as peer:
        run = check_server(peer.port)
    assert_status(
        run, 2, f"SMTP CRITICAL - 127.0.0.1:{peer.port}: banner is not 220, banner: {shown}"
    )
    assert_phases(run, {"dns", "connect", "banner"})
    assert peer.received == b"QUIT\r\n"


@pytest.mark.parametrize("helo", [[], ["--helo"]])
def test_helo_rejected_is_critical(helo):
    replies = {verb: b"550 5.7.1 Not welcome\r\n" for verb in (b"EHLO", b"HELO")}
    with ScriptedServer(scripted(b"220 strict.test ESMTP\r\n", replies)) as peer:
        run = check_server(peer.port, *helo)
    verb = "HELO" if helo else "EHLO"
    assert_status(
        run,
        2,
        f"SMTP CRITICAL - 127.0.0.1:{peer.port} answered in {TIME}: "
        f"{verb} reply is not 250, banner: 220 strict.test ESMTP, "
        "helo: 550 5.7.1 Not welcome",
    )
    assert_phases(run, ALL_PHASES)


def _hold(peer: Peer) -> None:
    peer.hold()


def _close(peer: Peer) -> None:
    return None


def _banner_then_hold(peer: Peer) -> None:
    peer.send(b"220 mute.test ESMTP\r\n")
    peer.hold()


def _banner_then_close(peer: Peer) -> None:
    peer.send(b"220 gone.test ESMTP\r\n")
    peer.line()


def _half_banner_then_close(peer: Peer) -> None:
    peer.send(b"220-first line\r\n")


def _garbage(peer: Peer) -> None:
    peer.send(b"\x00\xffGARBAGE without line end")
    peer.hold()


def _ten_megabyte_line(peer: Peer) -> None:
    peer.send(b"220 " + b"x" * 10_000_000)


def _endless_reply(peer: Peer) -> None:
    peer.send(b"220-endless\r\n" * 1000)
    peer.hold()


def _code_changes(peer: Peer) -> None:
    peer.send(b"220-first\r\n250 second\r\n")
    peer.hold()


FAULTS = [
    (_hold, "no banner within 2s (implicit TLS port? use -s)", {"dns", "connect"}),
    (trickle(b"220 slow.test ESMTP\r\n", 1.0), "banner not complete within 2s", {"dns", "connect"}),
    (_close, "server closed the connection before the banner", {"dns", "connect"}),
    (
        _half_banner_then_close,
        "server closed the connection in the middle of the banner",
        {"dns", "connect"},
    ),
    (
        _banner_then_hold,
        "no EHLO reply within 2s, banner: 220 mute.test ESMTP",
        {"dns", "connect", "banner"},
    ),
    (
        _banner_then_close,
        "server closed the connection after the banner, banner: 220 gone.test ESMTP",
        {"dns", "connect", "banner"},
    ),
    (
        _garbage,
        "protocol error: banner is not SMTP: ??GARBAGE without line end",
        {"dns", "connect"},
    ),
    (_ten_megabyte_line, "protocol error: banner has a line over 1024 bytes", {"dns", "connect"}),
    (_endless_reply, "protocol error: banner has over 100 lines", {"dns", "connect"}),
    (_code_changes, "protocol error: banner changes its code from 220 to 250", {"dns", "connect"}),
]


@pytest.mark.parametrize(
    ("script", "reason", "phases"),
    FAULTS,
    ids=[getattr(f[0], "__name__", "trickle") for f in FAULTS],
)
def test_faults_are_critical_within_the_timeout(script, reason, phases):
    with ScriptedServer(script) as peer:
        run = check_server(peer.port, "-t", "2")
    assert_status(run, 2, f"SMTP CRITICAL - 127.0.0.1:{peer.port}: {reason}")
    assert_phases(run, phases, timeout="2")
    assert_within(run, 2)


def test_timeout_state_applies_to_timeouts_only():
    with ScriptedServer(_hold) as peer:
        run = check_server(peer.port, "-t", "1.5", "--timeout-state", "warning")
    assert_status(
        run,
        1,
        f"SMTP WARNING - 127.0.0.1:{peer.port}: no banner within 1.5s (implicit TLS port? use -s)",
    )
    assert run.elapsed >= 1.5
    assert_within(run, 1.5)
    with ScriptedServer(_close) as peer:
        run = check_server(peer.port, "--timeout-state", "ok")
    assert run.code == 2, run


def test_closed_port_is_critical():
    port = free_port()
    run = check_server(port)
    assert_status(run, 2, f"SMTP CRITICAL - 127.0.0.1:{port}: connection refused")
    assert_phases(run, {"dns"})


def test_unresolvable_name_is_critical():
    run = run_check("-H", "no-such-host.invalid", "-t", "3", *HELO)
    assert run.code == 2, run
    assert run.status.startswith("SMTP CRITICAL - no-such-host.invalid:25: ")
    assert "no-such-host.invalid" in run.status.split(": ", 1)[1]
    assert_within(run, 3)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("-F", "evil.test\r\nRCPT TO:<victim@example.org>", "-F must not contain CR, LF or NUL"),
        ("-F", "evil.test\nDATA", "-F must not contain CR, LF or NUL"),
        ("--email", "a@evil.test\r\nMAIL FROM:<x>", "--email must not contain CR, LF or NUL"),
        ("--email", "a@evil.test\rQUIT", "--email must not contain CR, LF or NUL"),
    ],
)
def test_line_breaks_in_wire_values_never_reach_the_server(option, value, message):
    with ScriptedServer(scripted(b"220 record.test ESMTP\r\n")) as recorder:
        run = check_server(recorder.port, option, value, helo=False)
    assert_status(run, 3, f"SMTP UNKNOWN - {message}")
    assert run.perfdata == {}
    assert recorder.connections == 0
    assert recorder.received == b""
