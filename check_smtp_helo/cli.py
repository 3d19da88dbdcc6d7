"""The command line: parse the options, arm the deadline, wire the check, judge and print."""

from __future__ import annotations

import sys

import nagiosplugin

from .checks.contexts import (
    BannerContext,
    CertificateContext,
    FailureContext,
    PhaseContext,
    RefusalContext,
    ReplyContext,
    ResponseTimeContext,
    StepContext,
    StrengthContext,
    TLSVersionContext,
)
from .checks.output import use_output
from .checks.resource import SMTPServer
from .checks.summary import SMTPSummary
from .core.deadline import Deadline, DeadlineError
from .core.inputs import ip_family, is_address
from .core.stdout import STDOUT
from .core.text import STATUS_LINE, safe, seconds
from .options.derive import Settings, ca_file, require_dnspython
from .options.parse import UsageError, parse
from .smtp.model import Target

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from .options.table import Options
    from .smtp.model import Lookup
    from .tls.policy import TLSPolicy


def target(options: Options, settings: Settings, host: str, *, deadline: float | None,
           tls: TLSPolicy | None, lookup: Lookup | None = None) -> Target:  # fmt: skip
    """The Target of one conversation with host: every option that shapes a conversation,
    for the single check and for each probe of a mail domain alike."""
    return Target(
        host,
        settings.port,
        options.timeout,
        deadline=deadline,
        family=options.family,
        helo_name=settings.helo_name,
        plain_helo=options.helo,
        lmtp=options.lmtp,
        tls=tls,
        auth=settings.credentials,
        plaintext_auth=options.allow_plaintext_auth,
        mail_from=options.mail_from,
        rcpt_to=options.rcpt_to,
        lookup=lookup,
    )


def build_check(options: Options, settings: Settings, deadline: Deadline) -> nagiosplugin.Check:
    """The check: one resource, its contexts and the summary."""
    warning_days, critical_days = options.certificate_days or (None, None)
    contexts = [
        PhaseContext(),
        ResponseTimeContext(options.warning, options.critical),
        BannerContext(options.expect, deadline),
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
        return build_domain_check(options, settings, contexts, deadline)
    lookup = None
    if options.resolver and ip_family(settings.host) is None:
        from .domain.dns import lookup_with  # noqa: PLC0415 -- the import policy

        lookup = lookup_with(options.resolver, options.family)
    conversation = target(
        options, settings, settings.host, deadline=deadline.at, tls=settings.tls, lookup=lookup
    )
    # The check is named after its first resource ("SMTP"): nagiosplugin 1.3 has no name=.
    return nagiosplugin.Check(SMTPServer(conversation), *contexts, SMTPSummary(options.notes))


def build_domain_check(
    options: Options, settings: Settings, contexts: list[nagiosplugin.Context], deadline: Deadline
) -> nagiosplugin.Check:
    """The mail domain (--mx) or every address of the host (--all-addresses): probes of
    every address, judged each by the single check's contexts, and over them all."""
    # dnspython and the domain's classes: docs/development.md, the import policy
    from .checks import domain_contexts as judged  # noqa: PLC0415
    from .checks.domain_resource import DomainProbes, probes_deadline  # noqa: PLC0415
    from .checks.domain_summary import DomainSummary  # noqa: PLC0415
    from .domain.model import MailDomain, MXHost  # noqa: PLC0415

    domain = MailDomain(settings.host)
    if not options.mx:
        host = MXHost(settings.host, None)
        if ip_family(settings.host) is not None:
            host.addresses = [settings.host]
        domain.hosts = [host]
    dane_tls = policy_tls = None
    if options.dane or options.mta_sts:
        from .tls.policy import TLSPolicy  # noqa: PLC0415

    if options.dane:
        # DANE replaces the CA chain and, for DANE-EE, the name: the TLSA records judge
        dane_tls = TLSPolicy(implicit=options.implicit_tls, server_name=None, verify=False,
                             min_version=options.min_tls, refuse_below=options.refuse_tls_below,
                             all_certificates=options.all_certificates)  # fmt: skip
    if options.mta_sts:
        # HTTPS to mta-sts.<domain>, verified; not 'implicit', which words SMTP hints
        policy_tls = TLSPolicy(implicit=False, server_name=None, ca_file=ca_file(options))

    probes_end = probes_deadline(deadline, options.timeout)

    def probe_target(host: MXHost, address: str) -> Target:
        dane = dane_tls is not None and host.tlsa is not None and host.tlsa.applies
        return target(options, settings, host.name, deadline=probes_end,
                      tls=dane_tls if dane else settings.tls,
                      lookup=lambda _name, _left: [address])  # fmt: skip

    resource = DomainProbes(
        domain, probe_target, timeout=options.timeout, deadline=probes_end,
        resolver=options.resolver, family=options.family, port=settings.port, dane=options.dane,
        policy_tls=policy_tls,
    )  # fmt: skip
    return nagiosplugin.Check(
        resource,
        *contexts,
        judged.ProbeContext(contexts, options.timeout),
        judged.CountContext("addresses"),
        judged.AnsweredContext(),
        judged.SlowestContext(options.warning, options.critical),
        judged.HostContext(),
        judged.NullMXContext(),
        judged.DANEContext(),
        judged.MTASTSContext(),
        DomainSummary(options.notes),
    )


def load_modules(options: Options) -> None:
    """Import what the options need before the deadline is armed: the deadline signal inside
    an import can leave a module half made, which Python reports in its own words ('Error
    calling __set_name__', 'Exception ignored in ... _get_module_lock'). A plain check needs
    nothing more; what a module imports lazily later is kept from the signal by the Deadline."""
    if options.expect is not None:
        from .core import sandbox  # noqa: F401, PLC0415
    if options.speaks_tls:  # and the further handshakes a TLS check may need
        from .smtp import handshakes  # noqa: F401, PLC0415
        from .tls import policy  # noqa: F401, PLC0415
    if options.auth_user is not None:
        from .smtp import sasl  # noqa: F401, PLC0415
    by_name = options.resolver is not None and not is_address(options.hostname or "")
    if not (options.mx or options.all_addresses or by_name):
        return  # dnspython only where DNS goes through it
    try:
        require_dnspython(options)
    except ValueError:  # Settings says so, as the one UNKNOWN line
        return
    if options.mx or options.all_addresses:  # and with them the domain and dnspython
        from .checks import domain_contexts, domain_resource, domain_summary  # noqa: F401, PLC0415
    else:
        from .domain import dns  # noqa: F401, PLC0415


def _exit_with(state: nagiosplugin.state.ServiceState, text: str) -> int:
    """One status line of our own (no perfdata); the exit code to leave with."""
    STDOUT.write(safe(f"SMTP {str(state).upper()} - {text}", STATUS_LINE) + "\n")
    return int(state)


def judge(check: nagiosplugin.Check, deadline: Deadline) -> int:
    """Run the check (the conversation, then the contexts' judgement) and print its output;
    nagiosplugin's Check.main() does the same, with a whole-second alarm of its own."""
    runtime = nagiosplugin.Runtime()
    runtime.check = check
    check()
    deadline.disarm()  # the result stands: from here on, the deadline must not cut the output
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
    load_modules(options)
    deadline = Deadline()
    deadline.arm(options.timeout)  # everything from here on, files named by options included
    try:
        try:
            settings = Settings(options)
        except ValueError as exc:
            deadline.disarm()
            return _exit_with(nagiosplugin.Unknown, str(exc))
        check = build_check(options, settings, deadline)
        use_output(options.verbose)
        return judge(check, deadline)
    except DeadlineError:
        return _exit_with(options.timeout_state, f"check aborted after {seconds(options.timeout)}")
