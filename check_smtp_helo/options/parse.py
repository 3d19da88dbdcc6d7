"""The command line read as check_smtp (C getopt_long) reads it: a value is the next argument,
or attached (-p25, --port=25); flags bundle (-vv); long options are never abbreviated. Not
argparse: docs/development.md."""

from __future__ import annotations

import nagiosplugin

from ..core.inputs import ip_family
from ..core.text import shown
from .table import BY_FLAG, Option, Options


class UsageError(Exception):
    """A command line that cannot be run; its text is the one-line reason."""


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
    if options.dane and options.hostname is not None:  # as check_ssl_cert -H NAME --dane
        if ip_family(options.hostname.strip("[]").split("%", 1)[0]) is not None:
            raise UsageError("--dane needs a host name (TLSA records belong to names), or --mx")
        options.all_addresses = True
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
