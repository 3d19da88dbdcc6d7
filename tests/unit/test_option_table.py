"""The option table is the one home of the options: --help, README's option table and the
Icinga 2 CheckCommand say the same, and Options declares what the table fills in."""

from __future__ import annotations

import importlib.util
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
