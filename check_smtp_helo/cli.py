"""The command line: parse and check the options, wire the check, run it."""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import socket
import sys

import nagiosplugin

from . import __version__
from .names import dns_name, helo_argument, parse_host, shown
from .plugin import (
    BannerContext,
    CertificateContext,
    FailureContext,
    PhaseContext,
    ReplyContext,
    ResponseTimeContext,
    SMTPServer,
    SMTPSummary,
    use_output,
)
from .smtp import Target, seconds

UNKNOWN = 3
STATES = {
    "ok": nagiosplugin.Ok,
    "warning": nagiosplugin.Warn,
    "critical": nagiosplugin.Critical,
    "unknown": nagiosplugin.Unknown,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_RANGE = re.compile(rf"@?(?:(?:~|{_NUMBER}):)?(?:{_NUMBER})?\Z")

DESCRIPTION = """\
Checks that an SMTP server is available: connects, reads the 220 banner, says EHLO
(or HELO) and QUIT, and reports the response time (connect to the end of the EHLO
reply) with the time of each phase as perfdata. A banner other than 220 or an EHLO/HELO
reply other than 250 is CRITICAL, as is a server that is down, refuses or times out."""

EPILOG = """\
examples:
  check_smtp_helo -H mx.example.com -w 1 -c 2
  check_smtp_helo -H 2001:db8::25 -p 587 -F monitor.example.com
  check_smtp_helo -H mx.example.com --email monitor@example.com -e 'ESMTP Postfix'

--help and --version exit 3 (UNKNOWN), as monitoring-plugins do, so that a command
misconfigured to print them never shows a service as OK."""


class UsageError(Exception):
    """A command line that cannot be run; its text is the one-line reason."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting 2, and exits 3 after --help."""

    def error(self, message: str):
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            sys.stderr.write(message)
        sys.exit(UNKNOWN)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a port number (1..65535)")
    return int(text)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= 86400) or not re.fullmatch(_NUMBER, text.strip()):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number of seconds above 0")
    return value


def _threshold(text: str) -> nagiosplugin.Range:
    if not _RANGE.match(text) or text in ("", "@"):
        raise argparse.ArgumentTypeError(
            f"{shown(text)} is not a Nagios range such as 1, 0.5, ~:2, @1:2"
        )
    try:
        return nagiosplugin.Range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{shown(text)}: {exc}") from exc


def _pattern(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(
            f"{shown(text)} is not a regular expression: {exc}"
        ) from exc


def _days(text: str) -> tuple[float, float | None]:
    parts = text.split(",")
    if len(parts) > 2 or not all(re.fullmatch(r"\d+(?:\.\d+)?", part) for part in parts):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not WARN or WARN,CRIT in days")
    warning, critical = float(parts[0]), float(parts[1]) if len(parts) == 2 else None
    return warning, critical


def parser() -> argparse.ArgumentParser:
    """The option parser, with check_smtp's letters where check_smtp has the option."""
    parse = _Parser(
        prog="check_smtp_helo",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add = parse.add_argument
    add(
        "-H",
        "--hostname",
        required=True,
        metavar="HOST",
        help="server: IPv4, IPv6 (bare or in brackets) or DNS name",
    )
    add("-p", "--port", type=_port, help="TCP port (default: 25, or 465 with -s)")
    family = parse.add_mutually_exclusive_group()
    family.add_argument(
        "-4",
        dest="family",
        action="store_const",
        const=socket.AF_INET,
        default=socket.AF_UNSPEC,
        help="connect over IPv4 only",
    )
    family.add_argument(
        "-6",
        dest="family",
        action="store_const",
        const=socket.AF_INET6,
        help="connect over IPv6 only",
    )
    add(
        "-F",
        "--fqdn",
        metavar="NAME",
        help="EHLO/HELO argument (default: this machine's FQDN when it has one, "
        "else the local address as a literal such as [192.0.2.7])",
    )
    add(
        "--email",
        metavar="ADDRESS",
        help="an address whose domain becomes the EHLO/HELO argument (-F wins); the whole "
        "address is never sent, since strict servers reject HELO user@domain",
    )
    add(
        "--helo",
        action="store_true",
        help="say HELO only (default: EHLO, then HELO if EHLO is answered 500 or 502)",
    )
    secure = parse.add_mutually_exclusive_group()
    secure.add_argument(
        "-S",
        "--starttls",
        action="store_true",
        help="after EHLO, require STARTTLS, do the TLS handshake and say EHLO again",
    )
    secure.add_argument(
        "-s",
        "--ssl",
        "--tls",
        dest="implicit_tls",
        action="store_true",
        help="implicit TLS from the first byte (SMTPS, port 465 by default)",
    )
    add(
        "--sni",
        metavar="NAME",
        help="server name to send in the TLS handshake and verify the certificate against "
        "(default: the -H name; with an IP address, no SNI and the certificate must name the IP)",
    )
    add(
        "--ca-file",
        metavar="PATH",
        help="PEM file of CA certificates to trust besides the system's",
    )
    add(
        "--insecure",
        action="store_true",
        help="do not verify the certificate's chain and name (its expiry is still judged)",
    )
    add(
        "-D",
        "--certificate-days",
        type=_days,
        metavar="WARN[,CRIT]",
        help="WARNING (CRITICAL) when the certificate has fewer days left; "
        "an expired certificate is always CRITICAL",
    )
    add(
        "-w",
        "--warning",
        type=_threshold,
        default=nagiosplugin.Range(""),
        metavar="RANGE",
        help="response time range in seconds for WARNING, e.g. 1, 0.5, ~:2, @1:2",
    )
    add(
        "-c",
        "--critical",
        type=_threshold,
        default=nagiosplugin.Range(""),
        metavar="RANGE",
        help="response time range in seconds for CRITICAL",
    )
    add(
        "-e",
        "--expect",
        type=_pattern,
        metavar="REGEX",
        help="regular expression the banner must match (any line); no match is WARNING",
    )
    add(
        "-t",
        "--timeout",
        type=_timeout,
        default=10.0,
        metavar="SECONDS",
        help="the whole check ends within this (default: 10; decimals allowed)",
    )
    add(
        "--timeout-state",
        choices=sorted(STATES),
        default="critical",
        help="state when the timeout is reached (default: critical)",
    )
    add(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: banner, EHLO capabilities, address; -vv: SMTP transcript; -vvv: debug",
    )
    add("-V", "--version", action="version", version=f"check_smtp_helo {__version__}")
    return parse


TLS_ONLY = {"sni": "--sni", "ca_file": "--ca-file", "insecure": "--insecure",
            "certificate_days": "-D"}  # fmt: skip


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    """Parsed and checked options, or UsageError."""
    options = parser().parse_args(argv)
    try:
        options.hostname = parse_host(options.hostname, options.family)
        options.helo_name = helo_argument(options.fqdn, options.email)
        options.tls = tls_policy(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if options.port is None:
        options.port = 465 if options.implicit_tls else 25
    return options


def tls_policy(options: argparse.Namespace):
    """The TLSPolicy the options ask for, or None; ssl is imported only then."""
    if not (options.starttls or options.implicit_tls):
        for name, flag in TLS_ONLY.items():
            if getattr(options, name):
                raise ValueError(f"{flag} needs -S (STARTTLS) or -s (implicit TLS)")
        return None
    if options.starttls and options.helo:
        raise ValueError("-S needs EHLO: it cannot go with --helo")
    if options.insecure and options.ca_file:
        raise ValueError("--ca-file has no use with --insecure, which verifies nothing")
    from .tls import TLSPolicy  # noqa: PLC0415 -- ssl costs start-up time; only TLS checks pay it

    return TLSPolicy(
        implicit=options.implicit_tls,
        server_name=dns_name(options.sni, "--sni") if options.sni else None,
        verify=not options.insecure,
        ca_file=options.ca_file,
    )


def build_check(options: argparse.Namespace) -> nagiosplugin.Check:
    """The check: one resource, its contexts and the summary."""
    target = Target(
        options.hostname,
        options.port,
        options.timeout,
        family=options.family,
        helo_name=options.helo_name,
        plain_helo=options.helo,
        tls=options.tls,
    )
    warning_days, critical_days = options.certificate_days or (None, None)
    return nagiosplugin.Check(
        SMTPServer(target),
        PhaseContext(),
        ResponseTimeContext(options.warning, options.critical),
        BannerContext(options.expect),
        ReplyContext("helo", 250),
        CertificateContext(warning_days, critical_days),
        FailureContext(STATES[options.timeout_state]),
        SMTPSummary(),
        name="SMTP",
    )


def _exit_with(state: nagiosplugin.state.ServiceState, text: str) -> None:
    print(f"SMTP {str(state).upper()} - {text}", flush=True)
    sys.exit(int(state))


def _terminated(signum: int, _frame) -> None:
    """The monitoring core gave up on us: say so and leave at once."""
    sys.stdout.write(f"SMTP UNKNOWN - check terminated by {signal.Signals(signum).name}\n")
    sys.stdout.flush()
    os._exit(UNKNOWN)


@nagiosplugin.guarded(verbose=0)
def main(argv: list[str] | None = None) -> None:
    """Entry point of the check_smtp_helo command."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        options = parse_options(argv)
    except UsageError as exc:
        _exit_with(nagiosplugin.Unknown, " ".join(str(exc).split()))
    check = build_check(options)
    use_output(options.verbose)
    # The conversation keeps its own deadline; nagiosplugin's whole-second alarm is a backstop.
    backstop = math.floor(options.timeout) + 1
    try:
        check.main(timeout=backstop)
    except nagiosplugin.Timeout:
        _exit_with(STATES[options.timeout_state], f"check aborted after {seconds(options.timeout)}")
