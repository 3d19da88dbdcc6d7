"""The options: one table, a getopt-style parser, and the --help text made from the same table.

Not argparse: the monitoring core starts this plugin thousands of times a minute, and
argparse with the gettext and locale lookups it makes costs about 4 ms a run, a tenth of
the whole check (benchmarks/bench.py). Parsing is as in check_smtp (C getopt_long): a
value is the next argument, or attached (-p25, --port=25); flags bundle (-vv); long
options are never abbreviated.
"""

from __future__ import annotations

import _socket as socket  # the socket module's C core: see smtp.py
import re
import sys

import nagiosplugin

from . import __version__
from .base import STDOUT
from .names import dns_name, mailbox, resolver_address, shown

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (about 4 ms)
if TYPE_CHECKING:
    from typing import Callable

    Convert = Callable[[str], object]  # reads a value, or raises ValueError with the reason
    Action = Callable[["Options", "Option", object], None]

# Patterns are compiled on first use (re caches them): a check without -w/-c never pays.
# At most 15 digits before the point: the precision of a float, and no 320-digit infinity
NUMBER = r"[-+]?(?:[0-9]{1,15}(?:\.[0-9]*)?|\.[0-9]+)"
RANGE = rf"@?(?:(?:~|{NUMBER}):)?(?:{NUMBER})?"
TIMEOUT_STATES = {
    "ok": nagiosplugin.Ok,
    "warning": nagiosplugin.Warn,
    "critical": nagiosplugin.Critical,
    "unknown": nagiosplugin.Unknown,
}
PASSWORD_VARIABLE = "CHECK_SMTP_HELO_PASSWORD"  # the environment variable with the AUTH secret


class UsageError(Exception):
    """A command line that cannot be run; its text is the one-line reason."""


def port(text: str) -> int:
    if not re.fullmatch("[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"{shown(text)} is not a port number (1..65535)")
    return int(text)


def timeout(text: str) -> float:
    if not re.fullmatch(NUMBER, text) or not 0 < float(text) <= 86400:
        raise ValueError(f"{shown(text)} is not a number of seconds above 0")
    return float(text)


def threshold(text: str) -> nagiosplugin.Range:
    if not re.fullmatch(RANGE, text) or text in ("", "@"):
        raise ValueError(f"{shown(text)} is not a Nagios range such as 1, 0.5, ~:2, @1:2")
    try:
        return nagiosplugin.Range(text)
    except ValueError as exc:
        raise ValueError(f"{shown(text)}: {exc}") from exc


def pattern(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as exc:
        reason = str(exc)
    except OverflowError:  # a{4294967295}
        reason = "a repetition count is too large"
    except RecursionError:  # hundreds of nested groups
        reason = "it nests too deeply"
    raise ValueError(f"{shown(text)} is not a regular expression: {reason}")


def days(text: str) -> tuple[float, float | None]:
    parts = text.split(",")
    if len(parts) > 2 or not all(re.fullmatch(r"[0-9]{1,6}(?:\.[0-9]+)?", p) for p in parts):
        raise ValueError(f"{shown(text)} is not WARN or WARN,CRIT in days")
    return float(parts[0]), float(parts[1]) if len(parts) == 2 else None


def mail_domain(text: str) -> str:
    return dns_name(text, "domain")


TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


def tls_version(text: str) -> str:
    if text not in TLS_VERSIONS:
        raise ValueError(f"{shown(text)} is not one of {', '.join(TLS_VERSIONS)}")
    return text


def older_tls_version(text: str) -> str:
    """--refuse-tls-below: a version with an older one below it."""
    if text not in TLS_VERSIONS[1:]:
        raise ValueError(f"{shown(text)} is not one of {', '.join(TLS_VERSIONS[1:])}")
    return text


def timeout_state(text: str) -> nagiosplugin.state.ServiceState:
    if text not in TIMEOUT_STATES:
        raise ValueError(f"{shown(text)} is not one of {', '.join(TIMEOUT_STATES)}")
    return TIMEOUT_STATES[text]


def sender(text: str) -> str:
    """The MAIL FROM address; empty is the null sender <>."""
    return text and mailbox(text)


def user(text: str) -> str:
    if not text or any(c in text for c in "\r\n\0"):
        raise ValueError("the user name must not be empty nor contain CR, LF or NUL")
    try:
        text.encode("utf-8")  # an argument's bytes that are not UTF-8 arrive as surrogates
    except UnicodeEncodeError:
        raise ValueError("the user name is not UTF-8") from None
    return text


def given(text: str) -> str:
    """A value that must say something: an empty one is not taken as the option left out."""
    if not text:
        raise ValueError("the value is empty (leave the option out for its default)")
    return text


def mechanism(text: str) -> str:
    from .sasl import MECHANISMS  # noqa: PLC0415 -- only AUTH checks pay for hashlib and hmac

    if text.upper() not in MECHANISMS:
        raise ValueError(f"{shown(text)} is not one of {', '.join(MECHANISMS)}")
    return text.upper()


class Options:
    """The parsed command line: one attribute per option (its dest), defaults where not given."""

    hostname: str | None
    port: int | None
    family: int
    fqdn: str | None
    email: str | None
    helo: bool
    lmtp: bool
    starttls: bool
    implicit_tls: bool
    sni: str | None
    ca_file: str | None
    insecure: bool
    certificate_days: tuple[float, float | None] | None
    min_tls: str
    refuse_tls_below: str | None
    all_certificates: bool
    auth_user: str | None
    auth_password_file: str | None
    auth_mechanism: str | None
    allow_plaintext_auth: bool
    auth_password: None  # -P is refused: nothing is ever stored here
    mail_from: str | None
    rcpt_to: tuple[str, ...]
    warning: nagiosplugin.Range
    critical: nagiosplugin.Range
    expect: re.Pattern | None
    timeout: float
    timeout_state: nagiosplugin.state.ServiceState
    verbose: int
    mx: str | None
    all_addresses: bool
    resolver: tuple[str, int] | None
    dane: bool
    mta_sts: bool
    notes: list[str]  # what was given but is not used, for the long output

    def __init__(self) -> None:
        for option in OPTIONS:
            setattr(self, option.dest, option.default)
        self.notes = []

    @property
    def speaks_tls(self) -> bool:
        """-S or -s: what the options marked needs_tls need."""
        return self.starttls or self.implicit_tls


# Actions: what an option does when given; a value is passed only to options that take one.


def store(options: Options, option: Option, value: object) -> None:
    setattr(options, option.dest, value)


def store_const(options: Options, option: Option, _value: object) -> None:
    setattr(options, option.dest, option.const)


def count(options: Options, option: Option, _value: object) -> None:
    setattr(options, option.dest, getattr(options, option.dest) + 1)


def store_with_starttls(options: Options, option: Option, _value: object) -> None:
    """--dane and --mta-sts: TLS is what they judge; STARTTLS unless -s asks for implicit TLS."""
    setattr(options, option.dest, True)
    options.starttls = True


def append(options: Options, option: Option, value: object) -> None:
    setattr(options, option.dest, (*getattr(options, option.dest), value))


def refuse_password(_options: Options, _option: Option, _value: object) -> None:
    raise ValueError(
        "a password on the command line is visible to every user (ps) and in the monitoring "
        f"core's logs: put it in the environment variable {PASSWORD_VARIABLE} or in a file "
        "named by --auth-password-file"
    )


def print_help(_options: Options, _option: Option, _value: object) -> None:
    STDOUT.write(help_text())
    sys.exit(3)


def print_version(_options: Options, _option: Option, _value: object) -> None:
    STDOUT.write(f"check_smtp_helo {__version__}\n")
    sys.exit(3)


class Option:
    """One option and all its rules: spellings, where it goes, how its value is read, what it
    does, whether it needs TLS (-S or -s; without, it is ignored with a note), which options it
    excludes, which it needs (one of them), and its help."""

    def __init__(self, flags: str, dest: str, help: str, *, convert: Convert | None = None,
                 metavar: str = "", action: Action | None = None, const: object = True,
                 default: object = None, needs_tls: bool = False,
                 excludes: str = "", needs_one_of: str = "") -> None:  # fmt: skip
        self.flags = flags.split()
        self.dest = dest
        self.help = help
        self.convert = convert  # None: a flag, which takes no value
        self.metavar = metavar
        self.action = action or (store if convert else store_const)
        self.const = const
        self.default = default
        self.needs_tls = needs_tls
        self.excludes = excludes.split()  # flags of the options it cannot go with
        self.needs_one_of = needs_one_of.split()  # flags of which one must be given with it

    @property
    def label(self) -> str:
        return "/".join(self.flags)


OPTIONS = [
    Option("-H --hostname", "hostname", "server to check: IPv4, IPv6 (bare or in brackets) "
           "or DNS name; a single argument without -H is the host too", convert=str,
           metavar="HOST"),
    Option("-p --port", "port", "TCP port (default: 25, or 465 with -s)", convert=port,
           metavar="PORT"),
    Option("-4", "family", "connect over IPv4 only", const=socket.AF_INET,
           default=socket.AF_UNSPEC, excludes="-6"),
    Option("-6", "family", "connect over IPv6 only", const=socket.AF_INET6,
           default=socket.AF_UNSPEC),
    Option("-F --fqdn", "fqdn", "EHLO/HELO argument (default: this machine's FQDN when it has "
           "one, else the local address as a literal such as [192.0.2.7])", convert=str,
           metavar="NAME"),
    Option("--email", "email", "an address whose domain becomes the EHLO/HELO argument (-F "
           "wins); the address itself is never sent: strict servers reject HELO user@domain",
           convert=str, metavar="ADDRESS"),
    Option("--helo", "helo", "say HELO only (default: EHLO, then HELO if EHLO is answered 500 "
           "or 502)", default=False),
    Option("-L --lmtp", "lmtp", "speak LMTP (RFC 2033): LHLO instead of EHLO, no HELO "
           "fallback; the default port becomes 24", default=False, excludes="--helo"),
    Option("-S --starttls", "starttls", "after EHLO, require STARTTLS, do the TLS handshake and "
           "say EHLO again", default=False, excludes="-s --helo"),
    Option("-s --ssl --tls", "implicit_tls", "implicit TLS from the first byte (SMTPS, port 465 "
           "by default)", default=False),
    Option("--sni", "sni", "server name to send in the TLS handshake and verify the certificate "
           "against (default: the -H name; with an IP address, no SNI and the certificate must "
           "name the IP)", convert=given, metavar="NAME", needs_tls=True),
    Option("--ca-file", "ca_file", "PEM file of CA certificates to trust besides the system's",
           convert=given, metavar="PATH", needs_tls=True),
    Option("--insecure", "insecure", "do not verify the certificate's chain and name (its "
           "expiry, key and signatures are still judged)", default=False, needs_tls=True,
           excludes="--ca-file"),
    Option("-D --certificate-days", "certificate_days", "WARNING (CRITICAL) when a "
           "certificate the server sends (its own or an intermediate) has fewer days left; "
           "cert_days is the soonest expiry. An expired certificate is always CRITICAL",
           convert=days, metavar="WARN[,CRIT]", needs_tls=True),
    Option("--min-tls", "min_tls", "lowest TLS version that is good: 1.0, 1.1, 1.2 "
           "(default) or 1.3; a server that offers nothing newer is WARNING, and AUTH is not "
           "sent. Servers down to TLS 1.0 are reached (at OpenSSL security level 0 when the "
           "system's refuses them)", convert=tls_version, metavar="VERSION", default="1.2",
           needs_tls=True),
    Option("--refuse-tls-below", "refuse_tls_below", "the server must refuse every TLS "
           "version below this (1.1, 1.2 or 1.3): one more handshake for each, capped at it; "
           "one accepted is WARNING", convert=older_tls_version, metavar="VERSION",
           needs_tls=True),
    Option("--all-certificates", "all_certificates", "judge the RSA and the ECDSA certificate "
           "of a server that holds both: one more handshake (TLS 1.2, the other key type's "
           "cipher suites)", default=False, needs_tls=True),
    Option("--auth-user", "auth_user", "after EHLO (and TLS), AUTH as this user; the reply "
           f"must be 235. The password comes from the environment variable {PASSWORD_VARIABLE} "
           "or from --auth-password-file, never from the command line. Needs -S or -s",
           convert=user, metavar="USER"),
    Option("--auth-password-file", "auth_password_file", "file whose first line is the AUTH "
           "password (readable by the monitoring user only)", convert=str, metavar="PATH"),
    Option("--auth-mechanism", "auth_mechanism", "SCRAM-SHA-256, CRAM-MD5, PLAIN or LOGIN "
           "(default: the first of these that the server offers)", convert=mechanism,
           metavar="NAME"),
    Option("--allow-plaintext-auth", "allow_plaintext_auth", "allow --auth-user without TLS: "
           "the password crosses the network readable", default=False),
    Option("-P --auth-password", "auth_password", "refused: a password on the command line is "
           f"visible to every user; use {PASSWORD_VARIABLE} or --auth-password-file",
           convert=str, metavar="PASSWORD", action=refuse_password),
    Option("--mail-from", "mail_from", "after EHLO (and AUTH), MAIL FROM:<ADDRESS>; the reply "
           "must be 250", convert=sender, metavar="ADDRESS"),
    Option("--rcpt-to", "rcpt_to", "then RCPT TO:<ADDRESS> (MAIL FROM:<> without --mail-from); "
           "repeatable. 250 or 251 is OK, 4xx WARNING, 5xx CRITICAL. Then RSET: no mail is "
           "ever sent", convert=mailbox, metavar="ADDRESS", action=append, default=()),
    Option("-w --warning", "warning", "response time range in seconds for WARNING, e.g. 1, "
           "0.5, ~:2, @1:2", convert=threshold, metavar="RANGE", default=nagiosplugin.Range()),
    Option("-c --critical", "critical", "response time range in seconds for CRITICAL",
           convert=threshold, metavar="RANGE", default=nagiosplugin.Range()),
    Option("-e --expect", "expect", "regular expression the banner must match (any line); no "
           "match is WARNING", convert=pattern, metavar="REGEX"),
    Option("-t --timeout", "timeout", "the whole check ends within this (default: 10; "
           "decimals allowed)", convert=timeout, metavar="SECONDS", default=10.0),
    Option("--timeout-state", "timeout_state", "state when the timeout is reached: ok, "
           "warning, critical (default) or unknown", convert=timeout_state, metavar="STATE",
           default=nagiosplugin.Critical),
    Option("--mx", "mx", "check the mail domain instead of one host: every address (A and "
           "AAAA) of every MX host, all at once; with no MX, the domain's own address (the "
           "implicit MX). Every other option applies to each probe", convert=mail_domain,
           metavar="DOMAIN", excludes="--sni"),
    Option("--all-addresses", "all_addresses", "with -H: check every address of the name, all "
           "at once, not only the first that connects", default=False, excludes="--mx"),
    Option("--resolver", "resolver", "send every DNS query of the check (the -H lookup too) "
           "to this server instead of the system's: ADDRESS[:PORT], an IPv6 address with a "
           "port in brackets", convert=resolver_address, metavar="ADDRESS[:PORT]"),
    Option("--dane", "dane", "check each certificate against the TLSA records of its MX host "
           "(RFC 7672), trusted only when DNSSEC-validated; implies -S",
           action=store_with_starttls, default=False, excludes="--helo",
           needs_one_of="--mx --all-addresses"),
    Option("--mta-sts", "mta_sts", "fetch the domain's MTA-STS policy (RFC 8461) and check the "
           "MX hosts and their certificates against it; implies -S",
           action=store_with_starttls, default=False, excludes="--helo --insecure",
           needs_one_of="--mx"),
    Option("-v --verbose", "verbose", "-v: banner, EHLO capabilities, address; -vv: SMTP "
           "transcript; -vvv: debug", action=count, default=0),
    Option("-V --version", "version", "print the version", action=print_version),
    Option("-h --help", "help", "print this help", action=print_help),
]  # fmt: skip
BY_FLAG = {flag: option for option in OPTIONS for flag in option.flags}


def parse(argv: list[str]) -> Options:
    """Options from argv, or UsageError; --help and --version print and exit 3."""
    options, given, positional = Options(), [], []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            raise UsageError(unexpected(arg))
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        flag, attached = _split(arg)
        while True:
            option = BY_FLAG.get(flag)
            if option is None:
                raise UsageError(f"unknown option {shown(flag)} (see --help)")
            given.append(option)
            if option.convert is None:
                if attached is not None and flag.startswith("--"):
                    raise UsageError(f"{option.label} takes no value")
                option.action(options, option, None)
                if attached is None:
                    break
                flag, attached = "-" + attached[0], attached[1:] or None  # bundled: -vv, -4v
                continue
            value = attached if attached is not None else next(args, None)
            if value is None:
                raise UsageError(f"{option.label} needs a value ({option.metavar})")
            try:
                option.action(options, option, option.convert(value))
            except ValueError as exc:
                raise UsageError(f"{option.label}: {exc}") from exc
            break
    _take_host(options, positional)
    return _checked(options, given)


def _split(arg: str) -> tuple[str, str | None]:
    """'--port=25' -> ('--port', '25'); '-p25' -> ('-p', '25'); '-v' -> ('-v', None)."""
    if arg.startswith("--"):
        flag, equals, value = arg.partition("=")
        return flag, value if equals else None
    return arg[:2], arg[2:] or None


def _take_host(options: Options, positional: list[str]) -> None:
    """As in check_smtp, one argument that is not an option is the host when -H is absent."""
    if positional and options.hostname is None:
        options.hostname = positional.pop(0)
    if positional:
        raise UsageError(unexpected(positional[0]))


def unexpected(arg: str) -> str:
    return f"unexpected argument {shown(arg)}: give the host once, with -H or alone"


def _checked(options: Options, given: list[Option]) -> Options:
    """Options that need TLS are dropped (with a note) without it; then exclusions hold."""
    if not options.speaks_tls:
        for option in dict.fromkeys(o for o in given if o.needs_tls):
            setattr(options, option.dest, option.default)
            options.notes.append(f"{option.label} ignored: it needs -S or -s")
        given = [option for option in given if not option.needs_tls]
    for option in given:
        for other in map(BY_FLAG.__getitem__, option.excludes):
            if other in given:
                raise UsageError(f"{option.label} and {other.label} exclude each other")
        if option.needs_one_of and not any(BY_FLAG[flag] in given for flag in option.needs_one_of):
            needed = " or ".join(BY_FLAG[flag].label for flag in option.needs_one_of)
            raise UsageError(f"{option.label} needs {needed}")
    if options.hostname is not None and options.mx is not None:
        raise UsageError("give the host (-H) or the mail domain (--mx), not both")
    if options.hostname is None and options.mx is None:
        raise UsageError("-H/--hostname (or --mx DOMAIN) is required (see --help)")
    _thresholds_in_order(options.warning, options.critical)
    return options


def _thresholds_in_order(warning: nagiosplugin.Range, critical: nagiosplugin.Range) -> None:
    """Plain upper bounds (-w 1 -c 2) must not put WARNING above CRITICAL: every time over
    the warning bound would be CRITICAL already. Other ranges are left as given."""
    plain = [not r.invert and r.start == 0 and r.end != float("inf") for r in (warning, critical)]
    if all(plain) and warning.end > critical.end:
        raise UsageError(
            f"-w/--warning {warning} is above -c/--critical {critical}: WARNING could never show"
        )


USAGE = "usage: check_smtp_helo -H HOST [options]\n       check_smtp_helo --mx DOMAIN [options]"
DESCRIPTION = """\
Checks that an SMTP server is available: connects, reads the 220 banner, says EHLO
(or HELO) and QUIT, and reports the response time (connect to the end of the EHLO
reply) with the time of each phase as perfdata. A banner other than 220 or an EHLO/HELO
reply other than 250 is CRITICAL, as is a server that is down, refuses or times out.
When asked, it goes on with AUTH, MAIL FROM and RCPT TO and judges each reply; it
never sends DATA.
With --mx it checks a mail domain: every address of every MX host, all at once, with
DANE (--dane) and MTA-STS (--mta-sts) if asked."""
EXAMPLES = """\
examples:
  check_smtp_helo -H mx.example.com -w 1 -c 2
  check_smtp_helo -H 2001:db8::25 -p 587 -S -D 30,14 --sni mx.example.com
  check_smtp_helo -H mx.example.com -S -D 30,14 --refuse-tls-below 1.2 --all-certificates
  check_smtp_helo -H mx.example.com --email monitor@example.com -e 'ESMTP Postfix'
  check_smtp_helo -H mx.example.com --rcpt-to postmaster@example.com
  CHECK_SMTP_HELO_PASSWORD=... check_smtp_helo -H smtp.example.com -p 587 -S --auth-user u
  check_smtp_helo --mx example.com --dane --mta-sts -w 2 -c 5

--help and --version exit 3 (UNKNOWN), as monitoring-plugins do, so that a command
misconfigured to print them never shows a service as OK."""


def help_text() -> str:
    """--help, from the option table."""
    import textwrap  # noqa: PLC0415 -- only --help pays for it

    lines = [USAGE, "", DESCRIPTION, "", "options:"]
    for option in OPTIONS:
        spelled = ", ".join(f"{flag} {option.metavar}".rstrip() for flag in option.flags)
        lines.append(f"  {spelled}")
        lines += textwrap.wrap(option.help, 76, initial_indent=" " * 8, subsequent_indent=" " * 8)
    return "\n".join([*lines, "", EXAMPLES, ""])
