"""The option table is the one home of the options: --help, README's option table and the
Icinga 2 CheckCommand say the same, and Options declares what the table fills in."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from helpers import ROOT, run_check

from check_smtp_helo.options.rules import phrases
from check_smtp_helo.options.table import BY_FLAG, OPTIONS, Options

COMMAND = ROOT / "icinga-config" / "icinga2" / "smtp_helo-command.conf"
# -V and -h print and exit 3: no service runs them. -P is refused: a password among the
# arguments is what the command must never have (it passes it in the environment)
NOT_IN_COMMAND = {"-V", "-h", "-P"}
LABELS = [option.label for option in OPTIONS]


def readme_flags() -> list[str]:
    """Every spelling in the first column of README's option table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Options\n", 1)[1].split("\n#", 1)[0]
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `-")]
    return [cell.split()[0] for row in rows for cell in re.findall(r"`([^`]+)`", row)]


def command_flags() -> list[str]:
    """The argument keys of the CheckCommand."""
    return re.findall(r'^    "(-[^"]+)" = \{', COMMAND.read_text(), re.MULTILINE)


@pytest.fixture(scope="module")
def help_text() -> str:
    return run_check("--help").stdout


@pytest.mark.parametrize("option", OPTIONS, ids=LABELS)
def test_every_option_is_in_help_readme_and_the_check_command(option, help_text):
    for flag in option.flags:
        spelled = re.escape(f"{flag} {option.metavar}".rstrip())
        assert re.search(rf"^  (.*, )?{spelled}(,|$)", help_text, re.MULTILINE), flag
        assert flag in readme_flags(), f"{flag} is not in README's option table"
    if not NOT_IN_COMMAND & set(option.flags):
        assert set(option.flags) & set(command_flags()), f"{option.label}: not in {COMMAND.name}"


def test_readme_and_the_check_command_name_no_other_option():
    assert [flag for flag in readme_flags() if flag not in BY_FLAG] == []
    assert [flag for flag in command_flags() if flag not in BY_FLAG] == []


def test_options_declares_every_attribute_the_table_fills_in():
    declared = set(Options.__annotations__) - {"notes"}
    assert declared == {option.dest for option in OPTIONS} - {"help", "version"}


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.excludes], ids=lambda o: o.label)
def test_exclusions_name_options_of_the_table(option):
    assert all(flag in BY_FLAG for flag in option.excludes)


@pytest.mark.parametrize("option", OPTIONS, ids=LABELS)
def test_every_rule_names_options_of_the_table(option):
    named = [
        *option.needs,
        *option.ignored_without,
        *option.needs_tls_unless,
        *option.implies,
        *option.required_unless,
        *(flag for flag, _value in option.defaults_with if flag),
    ]
    assert all(flag in BY_FLAG for flag in named)


def _docs_tool():
    spec = importlib.util.spec_from_file_location("option_docs", ROOT / "tools" / "option_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_and_the_check_command_state_the_rules_of_the_table():
    """Word for word: README's option table and the CheckCommand's descriptions are written
    from the option table by make docs; a rule changed only in one place fails here."""
    docs = _docs_tool()
    assert (
        docs.readme_rows()
        == docs.README.read_text().split(docs.HEADER, 1)[1].split("\n\n", 1)[0].splitlines()
    ), "README's option table is out of date: run make docs"
    assert docs.command() == COMMAND.read_text(), "the CheckCommand is out of date: run make docs"


@pytest.mark.parametrize("option", OPTIONS, ids=LABELS)
def test_help_states_the_rules_of_the_table(option, help_text):
    said = phrases(option, OPTIONS)
    entry = help_text.split(
        f"\n  {', '.join(f'{f} {option.metavar}'.rstrip() for f in option.flags)}\n", 1
    )[1]
    words = " ".join(entry.split("\n  -", 1)[0].split())
    for phrase in said:
        assert phrase in words, (phrase, words)


BASKET = ROOT / "icinga-config" / "director" / "smtp_helo-basket.json"
PASSWORD = "smtp_helo_auth_password"  # in the command's env, not an argument; not in Director


def option_of(spelled: str) -> str:
    """The option a flag names (its dest), or the environment variable as it is."""
    return BY_FLAG[spelled].dest if spelled in BY_FLAG else spelled


def readme_variables() -> dict[str, str]:
    """README's table of custom variables: each variable and the option it sets."""
    text = (ROOT / "README.md").read_text()
    table = text.split("\n| custom variable | option |", 1)[1].split("\n\n", 1)[0]
    found: dict[str, str] = {}
    for row in table.splitlines()[2:]:
        cells = row.strip("|").split("|")
        for names, spelled in ((cells[0], cells[1]), (cells[3], cells[4])):
            variables = re.findall(r"`(smtp_helo_\w+)`", names)
            options = re.findall(r"`([^`]+)`", spelled)
            for variable, option in zip(variables, options * len(variables)):
                found[variable] = option_of(option)
    return found


def command_variables() -> dict[str, str]:
    """The CheckCommand's custom variables: each and the argument (or environment) it fills."""
    text = COMMAND.read_text()
    found = {
        variable: flag
        for flag, body in re.findall(r'^    "(-[^"]+)" = \{(.*?)^    \}', text, re.M | re.S)
        for variable in re.findall(r'(?:value|set_if) = "\$(smtp_helo_\w+)\$"', body)
    }
    found.update(
        (variable, name)
        for name, variable in re.findall(r'"(CHECK_SMTP_HELO_\w+)" = "\$(smtp_helo_\w+)\$"', text)
    )
    return {variable: option_of(flag) for variable, flag in found.items()}


def director_fields() -> dict[str, str]:
    """The Director basket's data fields: each variable and the flag its caption names."""
    fields = json.loads(BASKET.read_text())["Datafield"].values()
    return {field["varname"]: option_of(field["caption"].rsplit("(", 1)[1].rstrip(")"))
            for field in fields}  # fmt: skip


def test_every_custom_variable_is_in_readme_and_the_director_basket():
    """README's table of custom variables, the CheckCommand and the Director basket name the
    same variables for the same options (smtp_helo_min_tls was missing from README)."""
    command = command_variables()
    assert command[PASSWORD] == "CHECK_SMTP_HELO_PASSWORD"
    assert readme_variables() == command
    assert director_fields() == {k: v for k, v in command.items() if k != PASSWORD}
    not_set = {o.dest for o in OPTIONS if not NOT_IN_COMMAND & set(o.flags)} - set(command.values())
    assert not_set == set(), "options no custom variable sets"
