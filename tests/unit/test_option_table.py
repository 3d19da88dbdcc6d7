"""The option table is the one home of the options: --help, README's option table and the
Icinga 2 CheckCommand say the same, and Options declares what the table fills in."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT, run_check

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
