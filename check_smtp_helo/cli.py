"""The command line: parse and check the options, wire the check, run it."""

from __future__ import annotations

import os
import sys

import nagiosplugin

from .base import STATUS_LINE, STDOUT, TIMER, DeadlineError, safe
from .names import dns_name, helo_argument, ip_family, parse_host, regular_file, shown
from .options import PASSWORD_VARIABLE, Options, UsageError, parse
from .plugin import (
    BannerContext,
    CertificateContext,
    FailureContext,
    PhaseContext,
    RefusalContext,
    ReplyContext,
    ResponseTimeContext,
    SMTPServer,
    SMTPSummary,
    StepContext,
    StrengthContext,
    TLSVersionContext,
    use_output,
)
from .smtp import Target, seconds

DEFAULT_PORT, DEFAULT_TLS_PORT, DEFAULT_LMTP_PORT = 25, 465, 24
AUTH_ONLY = {"auth_password_file": "--auth-password-file", "auth_mechanism": "--auth-mechanism",
             "allow_plaintext_auth": "--allow-plaintext-auth"}  # fmt: skip

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (about 4 ms)
if TYPE_CHECKING:
    from .sasl import Credentials
    from .smtp import Lookup
    from .tls import TLSPolicy


class Derived:
    """What the options come to once read together: the host to connect to, the port, the
    EHLO/HELO argument (None lets the conversation choose), the TLS policy (None: plain) and
    the AUTH credentials (None: no AUTH)."""

    host: str
    port: int
    helo_name: str | None
    tls: TLSPolicy | None
    credentials: Credentials | None

    def __init__(self, options: Options) -> None:
        """ValueError with the reason when the options cannot go together."""
        self.host = options.mx or parse_host(options.hostname or "", options.family)
        if options.mx or options.all_addresses or options.resolver:
            require_dnspython()
        self.helo_name = helo_argument(options.fqdn, options.email)
        self.tls = tls_policy(options)
        self.credentials = credentials(options)
        self.port = options.port or default_port(options)


def require_dnspython() -> None:
    """The mail domain options' DNS library is there, or ValueError saying how to get it."""
    import importlib.util  # noqa: PLC0415 -- only these options look for it

    if importlib.util.find_spec("dns") is None:
        raise ValueError(
            "--mx, --all-addresses and --resolver need dnspython (pip install dnspython, or on "
            "Debian apt install python3-dnspython)"
        )


def default_port(options: Options) -> int:
    """465 for implicit TLS, 24 for LMTP, else 25."""
    if options.implicit_tls:
        return DEFAULT_TLS_PORT
    return DEFAULT_LMTP_PORT if options.lmtp else DEFAULT_PORT


def tls_policy(options: Options) -> TLSPolicy | None:
    """The TLSPolicy the options ask for, or None; ssl is imported only then."""
    if not options.speaks_tls:
        return None
    from .tls import TLSPolicy  # noqa: PLC0415 -- ssl costs start-up time; only TLS checks pay it

    return TLSPolicy(
        implicit=options.implicit_tls,
        server_name=dns_name(options.sni, "--sni") if options.sni else None,
        verify=not options.insecure,
        ca_file=ca_file(options),
        min_version=options.min_tls,
        refuse_below=options.refuse_tls_below,
        all_certificates=options.all_certificates,
    )


def ca_file(options: Options) -> str | None:
    """--ca-file, once it is known to be a file to read."""
    return regular_file(options.ca_file, "--ca-file") if options.ca_file else None


def credentials(options: Options) -> Credentials | None:
    """The AUTH credentials the options ask for, or None; the secret is read from the file
    or the environment, never from the command line."""
    if options.auth_user is None:  # ignored, as TLS options without TLS are: see options.py
        for name, flag in AUTH_ONLY.items():
            if getattr(options, name):
                options.notes.append(f"{flag} ignored: it needs --auth-user")
        return None
    if not (options.speaks_tls or options.allow_plaintext_auth):
        raise ValueError(
            "--auth-user needs TLS (-S or -s): without it the password crosses the network "
            "readable (--allow-plaintext-auth allows that)"
        )
    if options.auth_password_file is not None:
        secret = read_secret(options.auth_password_file, options.notes)
    else:
        secret = os.environ.get(PASSWORD_VARIABLE, "")
    if not secret:
        raise ValueError(
            f"--auth-user needs the password: in the environment variable {PASSWORD_VARIABLE} "
            "or in the first line of the file named by --auth-password-file"
        )
    from .sasl import Credentials  # noqa: PLC0415 -- only AUTH checks pay for hashlib and hmac

    return Credentials(options.auth_user, secret, options.auth_mechanism)


def read_secret(path: str, notes: list[str]) -> str:
    """The first line of the password file; a note when every user may read the file."""
    regular_file(path, "--auth-password-file")
    try:
        with open(path, "rb") as file:
            first = file.readline(4096)
            mode = os.fstat(file.fileno()).st_mode
    except OSError as exc:
        raise ValueError(f"cannot use --auth-password-file {shown(path)}: {exc.strerror}") from exc
    if mode & 0o004:
        notes.append(
            f"warning: --auth-password-file {shown(path)} can be read by every user (chmod o-r)"
        )
    return first.rstrip(b"\r\n").decode("utf-8", "surrogateescape")


def conversation(options: Options, derived: Derived, host: str, *, deadline: float | None,
                 tls: TLSPolicy | None, lookup: Lookup | None = None) -> Target:  # fmt: skip
    """The Target of one conversation with host: every option that shapes a conversation,
    for the single check and for each probe of a mail domain alike."""
    return Target(
        host,
        derived.port,
        options.timeout,
        deadline=deadline,
        family=options.family,
        helo_name=derived.helo_name,
        plain_helo=options.helo,
        lmtp=options.lmtp,
        tls=tls,
        auth=derived.credentials,
        plaintext_auth=options.allow_plaintext_auth,
        mail_from=options.mail_from,
        rcpt_to=options.rcpt_to,
        lookup=lookup,
    )


def build_check(options: Options, derived: Derived) -> nagiosplugin.Check:
    """The check: one resource, its contexts and the summary."""
    warning_days, critical_days = options.certificate_days or (None, None)
    contexts = [
        PhaseContext(),
        ResponseTimeContext(options.warning, options.critical),
        BannerContext(options.expect),
        ReplyContext("helo", 250),
        StepContext("auth", (235,), {535: "authentication failed"}),
        StepContext("mail", (250,)),
        StepContext("rcpt", (250, 251)),
        CertificateContext(warning_days, critical_days),
        StrengthContext(),
        TLSVersionContext(),
        RefusalContext(options.timeout_state),
        FailureContext(options.timeout_state),
    ]
    if options.mx or options.all_addresses:
        return build_domain_check(options, derived, contexts)
    lookup = None
    if options.resolver and ip_family(derived.host) is None:
        from .domain import lookup_with  # noqa: PLC0415 -- dnspython: only these checks pay it

        lookup = lookup_with(options.resolver, options.family)
    target = conversation(
        options, derived, derived.host, deadline=TIMER.deadline, tls=derived.tls, lookup=lookup
    )
    # The check is named after its first resource ("SMTP"): nagiosplugin 1.3 has no name=.
    return nagiosplugin.Check(SMTPServer(target), *contexts, SMTPSummary(options.notes))


def build_domain_check(
    options: Options, derived: Derived, contexts: list[nagiosplugin.Context]
) -> nagiosplugin.Check:
    """The mail domain (--mx) or every address of the host (--all-addresses): probes of
    every address, judged each by the single check's contexts, and over them all."""
    # dnspython and the domain's classes: only these checks pay for them
    from . import domain_check as checks  # noqa: PLC0415
    from .domain import MailDomain, MXHost  # noqa: PLC0415

    domain = MailDomain(derived.host)
    if not options.mx:
        host = MXHost(derived.host, None)
        if ip_family(derived.host) is not None:
            host.addresses = [derived.host]
        domain.hosts = [host]
    dane_tls = policy_tls = None
    if options.dane or options.mta_sts:
        from .tls import TLSPolicy  # noqa: PLC0415

    if options.dane:
        # DANE replaces the CA chain and, for DANE-EE, the name: the TLSA records judge
        dane_tls = TLSPolicy(implicit=options.implicit_tls, server_name=None, verify=False,
                             min_version=options.min_tls, refuse_below=options.refuse_tls_below,
                             all_certificates=options.all_certificates)  # fmt: skip
    if options.mta_sts:
        # HTTPS to mta-sts.<domain>, verified; not 'implicit', which words SMTP hints
        policy_tls = TLSPolicy(implicit=False, server_name=None, ca_file=ca_file(options))

    deadline = checks.probes_deadline(options.timeout)

    def target(host: MXHost, address: str) -> Target:
        dane = dane_tls is not None and host.tlsa is not None and host.tlsa.applies
        return conversation(options, derived, host.name, deadline=deadline,
                            tls=dane_tls if dane else derived.tls,
                            lookup=lambda _name, _left: [address])  # fmt: skip

    resource = checks.DomainProbes(
        domain, target, timeout=options.timeout, deadline=deadline, resolver=options.resolver,
        family=options.family, port=derived.port, dane=options.dane, policy_tls=policy_tls,
    )  # fmt: skip
    return nagiosplugin.Check(
        resource,
        *contexts,
        checks.ProbeContext(contexts, options.timeout),
        checks.CountContext("addresses"),
        checks.AnsweredContext(),
        checks.SlowestContext(options.warning, options.critical),
        checks.HostContext(),
        checks.NullMXContext(),
        checks.DANEContext(),
        checks.MTASTSContext(),
        checks.DomainSummary(options.notes),
    )


def _exit_with(state: nagiosplugin.state.ServiceState, text: str) -> int:
    """One status line of our own (no perfdata); the exit code to leave with."""
    STDOUT.write(safe(f"SMTP {str(state).upper()} - {text}", STATUS_LINE) + "\n")
    return int(state)


def judge(check: nagiosplugin.Check) -> int:
    """Run the check (the conversation, then the contexts' judgement) and print its output;
    nagiosplugin's Check.main() does the same, with a whole-second alarm of its own."""
    runtime = nagiosplugin.Runtime()
    runtime.check = check
    check()
    TIMER.disarm()  # the result stands: from here on, the deadline must not cut the output
    runtime.output.add(check)
    STDOUT.write(str(runtime.output))
    return check.exitcode


@nagiosplugin.guarded(verbose=0)
def main(argv: list[str] | None = None) -> int:
    """The check_smtp_helo command; returns the exit code."""
    nagiosplugin.Runtime().stdout = STDOUT
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        return _exit_with(nagiosplugin.Unknown, str(exc))
    TIMER.arm(options.timeout)  # everything from here on, files named by options included
    try:
        try:
            derived = Derived(options)
        except ValueError as exc:
            TIMER.disarm()
            return _exit_with(nagiosplugin.Unknown, str(exc))
        check = build_check(options, derived)
        use_output(options.verbose)
        return judge(check)
    except DeadlineError:
        return _exit_with(options.timeout_state, f"check aborted after {seconds(options.timeout)}")
