"""The command line read as check_smtp (C getopt_long) reads it: a value is the next argument,
or attached (-p25, --port=25); flags bundle (-vv); long options are never abbreviated. Not
argparse: docs/development.md."""

from __future__ import annotations

import sys

import nagiosplugin

from ..core.inputs import is_address
from ..core.stdout import STDOUT
from ..core.text import shown
from .table import BY_FLAG, OPTIONS, Option, Options


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
                _act(options, option, None)
                if attached is None:
                    break
                flag, attached = "-" + attached[0], attached[1:] or None  # bundled: -vv, -4v
                continue
            value = attached if attached is not None else next(args, None)
            if value is None:
                raise UsageError(f"{option.label} needs a value ({option.metavar})")
            try:
                _act(options, option, option.convert(value))
            except ValueError as exc:
                raise UsageError(f"{option.label}: {exc}") from exc
            break
    _take_host(options, positional, given)
    return _checked(options, given)


def _act(options: Options, option: Option, value: object) -> None:
    """What the option does, and what it implies: set, not given, so that it excludes nothing.
    --help prints and exits 3, as --version does."""
    if option is BY_FLAG["-h"]:
        from .help import help_text  # noqa: PLC0415 -- the import policy

        STDOUT.write(help_text(OPTIONS))
        sys.exit(3)
    option.action(options, option, value)
    for flag in option.implies:
        implied = BY_FLAG[flag]
        implied.action(options, implied, None)


def _split(arg: str) -> tuple[str, str | None]:
    """'--port=25' -> ('--port', '25'); '-p25' -> ('-p', '25'); '-v' -> ('-v', None)."""
    if arg.startswith("--"):
        flag, equals, value = arg.partition("=")
        return flag, value if equals else None
    return arg[:2], arg[2:] or None


def _take_host(options: Options, positional: list[str], given: list[Option]) -> None:
    """As in check_smtp, one argument that is not an option is the host when -H is absent."""
    if positional and options.hostname is None:
        options.hostname = positional.pop(0)
        given.append(BY_FLAG["-H"])
    if positional:
        raise UsageError(unexpected(positional[0]))


def unexpected(arg: str) -> str:
    return f"unexpected argument {shown(arg)}: give the host once, with -H or alone"


def _set(options: Options, flags: list[str]) -> bool:
    """Is one of these options set, given or implied?"""
    return any(getattr(options, BY_FLAG[flag].dest) not in (None, False) for flag in flags)


def _either(flags: list[str]) -> str:
    return " or ".join(BY_FLAG[flag].label for flag in flags)


def _checked(options: Options, given: list[Option]) -> Options:
    """The rules of the option table: what is ignored without what it needs goes (with a
    note), then what is left must go together."""
    for option in dict.fromkeys(given):
        if option.ignored_without and not _set(options, option.ignored_without):
            setattr(options, option.dest, option.default)
            needed = " or ".join(option.ignored_without)
            options.notes.append(f"{option.label} ignored: it needs {needed}")
            given = [other for other in given if other is not option]
    for option in given:
        for other in map(BY_FLAG.__getitem__, option.excludes):
            if other in given:
                raise UsageError(f"{option.label} and {other.label} exclude each other")
        if option.needs and not any(BY_FLAG[flag] in given for flag in option.needs):
            raise UsageError(f"{option.label} needs {_either(option.needs)}")
        if option.needs_tls_unless and not (
            options.speaks_tls or any(BY_FLAG[flag] in given for flag in option.needs_tls_unless)
        ):
            raise UsageError(
                f"{option.label} needs TLS (-S or -s): without it the password crosses the "
                f"network readable ({' or '.join(option.needs_tls_unless)} allows that)"
            )
    for option in OPTIONS:
        if (
            option.required_unless
            and option not in given
            and not any(BY_FLAG[flag] in given for flag in option.required_unless)
        ):
            others = ", ".join(f"{BY_FLAG[f].label} {BY_FLAG[f].metavar}".rstrip()
                                   for f in option.required_unless)  # fmt: skip
            raise UsageError(f"{option.label} (or {others}) is required (see --help)")
    # a rule on the value of -H, which the table's rules (on options) cannot state
    if options.dane and is_address(options.hostname or ""):
        raise UsageError("--dane needs a host name (TLSA records belong to names), or --mx")
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
