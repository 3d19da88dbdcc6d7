"""The option table's rules in words, one phrase each: for --help, README's option table and
the Icinga 2 CheckCommand alike, each spelling an option its own way."""

from __future__ import annotations

from nagiosplugin.state import ServiceState

TYPE_CHECKING = False  # the import policy: docs/development.md
if TYPE_CHECKING:
    from typing import Callable

    from .table import Option


def default_text(option: Option, name: Callable[[str], str] = str) -> str | None:
    """The default of an option that takes a value, as a user would write it; None when
    there is none to state (or its help words it: the EHLO argument, the mechanism)."""
    if option.defaults_with:
        parts = [str(value) for flag, value in option.defaults_with if not flag]
        parts += [f"{value} with {name(flag)}" for flag, value in option.defaults_with if flag]
        return ", ".join(parts)
    value = option.default
    if option.convert is None:  # a flag: it is off unless given
        return None
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (str, ServiceState)):
        return str(value)
    return None  # nothing (None), no range (-w, -c), no recipient


def phrases(option: Option, table: list[Option], name: Callable[[str], str] = str) -> list[str]:
    """The option's rules in words, each other option named by `name` (its flag, README's
    `code`, a custom variable)."""

    def either(flags: list[str]) -> str:
        return " or ".join(map(name, flags))

    said = []
    default = default_text(option, name)
    if default is not None:
        said.append(f"default: {default}")
    if option.required_unless:
        said.append(f"required unless {either(option.required_unless)}")
    if option.needs:
        said.append(f"needs {either(option.needs)}")
    if option.ignored_without:
        said.append(f"ignored without {either(option.ignored_without)}")
    if option.needs_tls_unless:
        said.append(f"needs TLS unless {either(option.needs_tls_unless)}")
    if option.implies:
        said.append(f"implies {' and '.join(map(name, option.implies))}")
    excluded = [*option.excludes]
    excluded += [other.flags[0] for other in table if set(other.excludes) & set(option.flags)]
    if excluded:
        said.append(f"excludes {', '.join(map(name, excluded))}")
    if option.needs_dnspython:
        said.append("needs dnspython")
    return said
