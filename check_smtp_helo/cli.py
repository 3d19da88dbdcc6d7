"""The command line: parse and check the options, wire the check, run it."""

from __future__ import annotations

import os
import signal
import sys

import nagiosplugin

from .names import dns_name, helo_argument, parse_host
from .options import Options, UsageError, parse
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
TLS_ONLY = {"sni": "--sni", "ca_file": "--ca-file", "insecure": "--insecure",
            "certificate_days": "-D"}  # fmt: skip


def parse_options(argv: list[str]) -> Options:
    """Parsed and checked options, or UsageError."""
    options = parse(argv)
    try:
        options.hostname = parse_host(options.hostname, options.family)
        options.helo_name = helo_argument(options.fqdn, options.email)
        options.tls = tls_policy(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if options.port is None:
        options.port = 465 if options.implicit_tls else 25
    return options


def tls_policy(options: Options):
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


def build_check(options: Options) -> nagiosplugin.Check:
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
    # The check is named after its first resource ("SMTP"): nagiosplugin 1.3 has no name=.
    return nagiosplugin.Check(
        SMTPServer(target),
        PhaseContext(),
        ResponseTimeContext(options.warning, options.critical),
        BannerContext(options.expect),
        ReplyContext("helo", 250),
        CertificateContext(warning_days, critical_days),
        FailureContext(options.timeout_state),
        SMTPSummary(),
    )


def _exit_with(state: nagiosplugin.state.ServiceState, text: str) -> None:
    """One status line of our own (no perfdata), safe for an ASCII stdout, and the exit."""
    line = f"SMTP {str(state).upper()} - {' '.join(text.split())}"
    print(line.encode("ascii", "backslashreplace").decode("ascii").replace("|", "/"), flush=True)
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
        options = parse_options(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        _exit_with(nagiosplugin.Unknown, str(exc))
    check = build_check(options)
    use_output(options.verbose)
    # The conversation keeps its own deadline; nagiosplugin's whole-second alarm is a backstop.
    backstop = int(options.timeout) + 1
    try:
        check.main(timeout=backstop)
    except nagiosplugin.Timeout:
        _exit_with(options.timeout_state, f"check aborted after {seconds(options.timeout)}")


def run() -> None:
    """The console script: main(), then exit without tearing the interpreter down.

    A check is a short process with nothing to finalize (its output is on stdout; no files,
    no atexit work that matters), and Python's shutdown costs about 5 ms a run, a tenth of
    the whole check (benchmarks/bench.py). Output is flushed, the exit code kept."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else UNKNOWN
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # stdout already closed by the reader: nothing left to say
        pass
    os._exit(code)
