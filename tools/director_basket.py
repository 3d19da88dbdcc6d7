"""Build the Icinga Director basket from the shipped CheckCommand and the option table.

    python3 tools/director_basket.py > icinga-config/director/smtp_helo-basket.json

The CheckCommand in icinga-config/icinga2/smtp_helo-command.conf stays the one home of the
command's arguments; this script carries them into Director's basket format, with a data
field for every custom variable (caption from the option table, description from the
CheckCommand, whose rules `make docs` writes from the table) and a
service template. `make basket` runs it, and a test fails when the shipped basket is stale.

Two things differ from the file-based command, on purpose:
- it does not import the ITL template "ipv4-or-ipv6": a basket that brings its own copy of
  an ITL object breaks a later `icingacli director kickstart`, which imports the ITL itself.
  The -H argument is an Icinga DSL function instead, with the same choice: smtp_helo_address
  when set, else the host's address, or its address6 when there is no IPv4 address (or
  smtp_helo_ipv6 is set).
- Director 1.10 has no `env` on commands: variables passed through `env` (a secret) are left
  out, and README says to use the password file there.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from check_smtp_helo.options.table import OPTIONS  # noqa: E402 -- after the path is set

COMMAND_CONF = ROOT / "icinga-config" / "icinga2" / "smtp_helo-command.conf"
NAME = "smtp_helo"
DATATYPE = "Icinga\\Module\\Director\\DataType\\DataType"
ADDRESS_FUNCTION = """\
var address = macro("$smtp_helo_address$")
if (address != "") { return address }
if (macro("$smtp_helo_ipv6$") || macro("$address$") == "") { return macro("$address6$") }
return macro("$address$")"""

_ARGUMENT = re.compile(r'^ {4}"(?P<flag>[^"]+)" = \{\n(?P<body>.*?)^ {4}\}', re.M | re.S)
_ATTRIBUTE = re.compile(
    r'^ {6}(?P<key>\w+) = (?P<value>"(?:[^"\\]|\\.)*"|true|false|-?\d+|\{\{.*\}\})$', re.M
)
_VARIABLE = re.compile(r"^\$(\w+)\$$")


def command_arguments(text: str) -> dict[str, dict]:
    """The arguments dictionary of the CheckCommand: flag -> its attributes."""
    arguments = {}
    for match in _ARGUMENT.finditer(text):
        arguments[match["flag"]] = {
            key: value
            for attribute in _ATTRIBUTE.finditer(match["body"])
            for key, value in _attribute(attribute["key"], attribute["value"]).items()
        }
    return arguments


def _attribute(key: str, value: str) -> dict:
    """One attribute of an argument; an Icinga DSL expression ({{ ... }}, the -H set_if that
    leaves -H out for a mail domain) goes to Director as an expression."""
    if value.startswith("{{"):  # Director renders an expression inside {{ }} itself
        return {key: value[2:-2].strip(), f"{key}_format": "expression"}
    return {key: json.loads(value)}


def _variable(argument: dict) -> str | None:
    found = _VARIABLE.match(argument.get("value") or argument.get("set_if") or "")
    return found.group(1) if found else None


def _option(flag: str):
    for option in OPTIONS:
        if flag in option.flags:
            return option
    raise LookupError(f"the CheckCommand passes {flag}, which the option table does not have")


def _datafield(number: int, variable: str, flag: str, argument: dict) -> dict:
    option = _option(flag)
    spelled = max(option.flags, key=len)
    words = variable.removeprefix("smtp_helo_").replace("_", " ")
    if "set_if" in argument and "value" not in argument:
        kind = "Boolean"
    elif argument.get("repeat_key") is not None:
        kind = "Array"
    else:
        kind = "String"
    return {
        "varname": variable,
        "caption": f"SMTP {words} ({spelled})",
        "description": argument["description"],
        "datatype": DATATYPE + kind,
        "format": None,
        "settings": {},
        "category": None,
        "originalId": str(number),
    }


def basket() -> dict:
    """The basket: the command, its data fields, a service template, and the basket itself."""
    arguments = command_arguments(COMMAND_CONF.read_text())
    fields, director_arguments = {}, {}
    for flag, argument in arguments.items():
        variable = _variable(argument)
        if variable is None:
            raise ValueError(f"argument {flag} is not one custom variable")
        number = len(fields) + 1
        fields[str(number)] = _datafield(number, variable, flag, argument)
        director_arguments[flag] = (
            {**argument, "value": {"type": "Function", "body": ADDRESS_FUNCTION}}
            if flag == "-H"
            else argument
        )
    references = [
        {"datafield_id": int(number), "is_required": "n", "var_filter": None} for number in fields
    ]
    return {
        "Basket": {
            NAME: {
                "basket_name": NAME,
                "objects": {"Command": [NAME], "ServiceTemplate": [NAME]},
                "owner_type": "user",
                "owner_value": "check_smtp_helo",
            }
        },
        "Command": {
            NAME: {
                "arguments": director_arguments,
                "command": "PluginDir + /check_smtp_helo",
                "fields": references,
                "methods_execute": "PluginCheck",
                "object_name": NAME,
                "object_type": "object",
            }
        },
        "Datafield": fields,
        "ServiceTemplate": {
            NAME: {
                "check_command": NAME,
                "fields": [],
                "object_name": NAME,
                "object_type": "template",
            }
        },
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(basket(), indent=4, sort_keys=True) + "\n")
