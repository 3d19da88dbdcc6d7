"""The option table: every option with all its rules, the one home of each."""

from __future__ import annotations

import _socket as socket  # the import policy: docs/development.md
import sys

import nagiosplugin

from .. import __version__
from ..core.inputs import mailbox, resolver_address
from ..core.stdout import STDOUT
from ..core.threads import MAX_WORKERS
from .values import (
    days,
    given,
    mail_domain,
    mechanism,
    older_tls_version,
    pattern,
    port,
    sender,
    threshold,
    timeout,
    timeout_state,
    tls_version,
    user,
)

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    import re
    from typing import Callable

    Convert = Callable[[str], object]  # reads a value, or raises ValueError with the reason
    Action = Callable[["Options", "Option", object], None]

TLS = "-S -s"  # ignored_without: the options that only a TLS check uses
PASSWORD_VARIABLE = "CHECK_SMTP_HELO_PASSWORD"  # the environment variable with the AUTH secret


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
        """-S or -s, given or implied: what the options ignored_without TLS need."""
        return self.starttls or self.implicit_tls


# Actions: what an option does when given; a value is passed only to options that take one.


def store(options: Options, option: Option, value: object) -> None:
    setattr(options, option.dest, value)


def store_const(options: Options, option: Option, _value: object) -> None:
    setattr(options, option.dest, option.const)


def count(options: Options, option: Option, _value: object) -> None:
    setattr(options, option.dest, getattr(options, option.dest) + 1)


def append(options: Options, option: Option, value: object) -> None:
    setattr(options, option.dest, (*getattr(options, option.dest), value))


def refuse_password(_options: Options, _option: Option, _value: object) -> None:
    raise ValueError(
        "a password on the command line is visible to every user (ps) and in the monitoring "
        f"core's logs: put it in the environment variable {PASSWORD_VARIABLE} or in a file "
        "named by --auth-password-file"
    )


def print_version(_options: Options, _option: Option, _value: object) -> None:
    STDOUT.write(f"check_smtp_helo {__version__}\n")
    sys.exit(3)


class Option:
    """One option and all its rules: spellings, where it goes, how its value is read, what it
    does, and how it goes with the others. The parser, --help, README's option table, the
    Icinga 2 CheckCommand and the Director basket all read the rules from here.

    Rules name other options by a flag; a list means one of them:
    - needs: one of these must be given too, else the command line is refused;
    - ignored_without: without one of these (given or implied) it is dropped, with a note,
      so that a setting shared by many services cannot turn some of them UNKNOWN;
    - needs_tls_unless: refused without TLS (-S or -s) unless one of these is given;
    - excludes: none of these may be given with it (declared on one side of each pair);
    - implies: these are set too (not given: they exclude nothing);
    - required_unless: it must be given, unless one of these is;
    - needs_dnspython: the DNS library must be installed;
    - defaults_with: (flag, value) pairs, the default while that option is set, the first
      that applies; ("", value) applies always."""

    def __init__(self, flags: str, dest: str, help: str, *, convert: Convert | None = None,
                 metavar: str = "", action: Action | None = None, const: object = True,
                 default: object = None, needs: str = "", ignored_without: str = "",
                 needs_tls_unless: str = "", excludes: str = "", implies: str = "",
                 required_unless: str = "", needs_dnspython: bool = False,
                 defaults_with: tuple[tuple[str, object], ...] = ()) -> None:  # fmt: skip
        self.flags = flags.split()
        self.dest = dest
        self.help = help
        self.convert = convert  # None: a flag, which takes no value
        self.metavar = metavar
        self.action = action or (store if convert else store_const)
        self.const = const
        self.default = default
        self.needs = needs.split()
        self.ignored_without = ignored_without.split()
        self.needs_tls_unless = needs_tls_unless.split()
        self.excludes = excludes.split()
        self.implies = implies.split()
        self.required_unless = required_unless.split()
        self.needs_dnspython = needs_dnspython
        self.defaults_with = defaults_with

    @property
    def label(self) -> str:
        return "/".join(self.flags)


OPTIONS = [
    Option("-H --hostname", "hostname", "server to check: IPv4, IPv6 (bare or in brackets) "
           "or DNS name; a single argument without -H is the host too", convert=str,
           metavar="HOST", required_unless="--mx"),
    Option("-p --port", "port", "TCP port", convert=port, metavar="PORT",
           defaults_with=(("-s", 465), ("-L", 24), ("", 25))),
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
           "fallback", default=False, excludes="--helo"),
    Option("-S --starttls", "starttls", "after EHLO, require STARTTLS, do the TLS handshake and "
           "say EHLO again", default=False, excludes="-s --helo"),
    Option("-s --ssl --tls", "implicit_tls", "implicit TLS from the first byte (SMTPS)",
           default=False),
    Option("--sni", "sni", "server name to send in the TLS handshake and verify the certificate "
           "against (default: the -H name; with an IP address, no SNI and the certificate must "
           "name the IP)", convert=given, metavar="NAME", ignored_without=TLS),
    Option("--ca-file", "ca_file", "PEM file of CA certificates to trust besides the system's",
           convert=given, metavar="PATH", ignored_without=TLS),
    Option("--insecure", "insecure", "do not verify the certificate's chain and name (its "
           "expiry, key and signatures are still judged)", default=False, ignored_without=TLS,
           excludes="--ca-file"),
    Option("-D --certificate-days", "certificate_days", "WARNING (CRITICAL) when a "
           "certificate the server sends (its own or an intermediate) has fewer days left; "
           "cert_days is the soonest expiry. An expired certificate is always CRITICAL",
           convert=days, metavar="WARN[,CRIT]", ignored_without=TLS),
    Option("--min-tls", "min_tls", "lowest TLS version that is good: 1.0, 1.1, 1.2 or 1.3; "
           "a server that offers nothing newer is WARNING, and AUTH is not sent. Servers down "
           "to TLS 1.0 are reached (at OpenSSL security level 0 when the system's refuses "
           "them)", convert=tls_version, metavar="VERSION", default="1.2", ignored_without=TLS),
    Option("--refuse-tls-below", "refuse_tls_below", "the server must refuse every TLS "
           "version below this (1.1, 1.2 or 1.3): one more handshake for each, capped at it; "
           "one accepted is WARNING", convert=older_tls_version, metavar="VERSION",
           ignored_without=TLS),
    Option("--all-certificates", "all_certificates", "judge the RSA and the ECDSA certificate "
           "of a server that holds both: one more handshake (TLS 1.2, the other key type's "
           "cipher suites)", default=False, ignored_without=TLS),
    Option("--auth-user", "auth_user", "after EHLO (and TLS), AUTH as this user; the reply "
           f"must be 235. The password comes from the environment variable {PASSWORD_VARIABLE} "
           "or from --auth-password-file, never from the command line", convert=user,
           metavar="USER", needs_tls_unless="--allow-plaintext-auth"),
    Option("--auth-password-file", "auth_password_file", "file whose first line is the AUTH "
           "password (readable by the monitoring user only)", convert=str, metavar="PATH",
           ignored_without="--auth-user"),
    Option("--auth-mechanism", "auth_mechanism", "SCRAM-SHA-256, CRAM-MD5, PLAIN or LOGIN "
           "(default: the first of these that the server offers)", convert=mechanism,
           metavar="NAME", ignored_without="--auth-user"),
    Option("--allow-plaintext-auth", "allow_plaintext_auth", "allow --auth-user without TLS: "
           "the password crosses the network readable", default=False,
           ignored_without="--auth-user"),
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
    Option("-t --timeout", "timeout", "the whole check ends within this (decimals "
           "allowed)", convert=timeout, metavar="SECONDS", default=10.0),
    Option("--timeout-state", "timeout_state", "state when the timeout is reached: ok, "
           "warning, critical or unknown", convert=timeout_state, metavar="STATE",
           default=nagiosplugin.Critical),
    Option("--mx", "mx", "check the mail domain instead of one host: every address (A and "
           f"AAAA) of every MX host, all at once ({MAX_WORKERS} at the most); with no MX, the "
           "domain's own address (the implicit MX). Every other option applies to each probe",
           convert=mail_domain, metavar="DOMAIN", excludes="-H --sni", needs_dnspython=True),
    Option("--all-addresses", "all_addresses", "with -H: check every address of the name, all "
           "at once, not only the first that connects", default=False, excludes="--mx",
           needs_dnspython=True),
    Option("--resolver", "resolver", "send every DNS query of the check (the -H lookup too) "
           "to this server instead of the system's: ADDRESS[:PORT], an IPv6 address with a "
           "port in brackets", convert=resolver_address, metavar="ADDRESS[:PORT]",
           needs_dnspython=True),
    Option("--dane", "dane", "check each certificate against the TLSA records of its MX host "
           "(RFC 7672), trusted only when DNSSEC-validated. With -H NAME: the name's TLSA "
           "records, on every address of it", default=False, implies="-S --all-addresses",
           excludes="--helo"),
    Option("--mta-sts", "mta_sts", "fetch the domain's MTA-STS policy (RFC 8461) and check the "
           "MX hosts and their certificates against it", default=False, implies="-S",
           excludes="--helo --insecure", needs="--mx"),
    Option("-v --verbose", "verbose", "-v: banner, EHLO capabilities, address; -vv: SMTP "
           "transcript; -vvv: debug", action=count, default=0),
    Option("-V --version", "version", "print the version", action=print_version),
    Option("-h --help", "help", "print this help"),  # parse.py prints it: help.py reads the table
]  # fmt: skip
BY_FLAG = {flag: option for option in OPTIONS for flag in option.flags}
