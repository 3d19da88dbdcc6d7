"""make docs: README's option table and the CheckCommand's descriptions, from the option table.

    python3 tools/option_docs.py           rewrite README.md and the CheckCommand
    python3 tools/option_docs.py --check   exit 1 when either is out of date

The option table (check_smtp_helo/options/table.py) is the one home of each option's rules.
Here they become words: README's row of an option is its spellings, the words written for
the operator (kept as they are), then "Rules:" and the rules; the CheckCommand's description
of an argument is the words written for it, then the rules with each option named by its
custom variable. What follows "Rules:" is always rewritten; an option new in the table gets
a row and its --help words, to be written better by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from check_smtp_helo.options.rules import phrases  # noqa: E402 -- after the path is set
from check_smtp_helo.options.table import OPTIONS  # noqa: E402

README = ROOT / "README.md"
COMMAND = ROOT / "icinga-config" / "icinga2" / "smtp_helo-command.conf"
RULES = " Rules: "  # starts the generated end of a description
HEADER = "| option | meaning | example |\n| --- | --- | --- |\n"
_ARGUMENT = re.compile(r'^ {4}"(?P<flag>-[^"]+)" = \{\n(?P<body>.*?)^ {4}\}', re.M | re.S)
_VARIABLE = re.compile(r'^ {6}(?:value|set_if) = "\$(?P<name>\w+)\$"$', re.M)
_DESCRIPTION = re.compile(r'^( {6}description = ")((?:[^"\\]|\\.)*)(")$', re.M)


def _words(text: str) -> str:
    """A description without its generated rules."""
    return text.split(RULES, 1)[0]


def _with_rules(words: str, said: list[str]) -> str:
    if not said:
        return words
    return f"{words}{'' if words.endswith('.') else '.'}{RULES}{'; '.join(said)}."


def readme_rows() -> list[str]:
    """README's option table as it must read: a row per option of the table."""
    section = README.read_text().split("\n## Options\n", 1)[1]
    rows = section.split(HEADER, 1)[1].split("\n\n", 1)[0].splitlines()
    written = {}
    for row in rows:
        cells = row.strip("|").split(" | ")
        first = re.match(r"\s*`([^` ]+)", cells[0])
        if first and len(cells) == 3:
            written[first.group(1)] = (_words(cells[1].strip()), cells[2].strip())
    lines = []
    for option in OPTIONS:
        spelled = [f"`{flag}`" for flag in option.flags]
        if option.metavar:
            spelled[-1] = f"`{option.flags[-1]} {option.metavar}`"
        words, example = written.get(option.flags[0], (option.help[:1].upper() + option.help[1:]
                                                      + ".", ""))  # fmt: skip
        said = phrases(option, OPTIONS, lambda flag: f"`{flag}`")
        row = f"| {', '.join(spelled)} | {_with_rules(words, said)} | {example}"
        lines.append(row.rstrip() + " |")
    return lines


def readme() -> str:
    """README with its option table made from the option table."""
    text = README.read_text()
    head, section = text.split("\n## Options\n", 1)
    before, table = section.split(HEADER, 1)
    _rows, after = table.split("\n\n", 1)
    return f"{head}\n## Options\n{before}{HEADER}" + "\n".join(readme_rows()) + f"\n\n{after}"


def command() -> str:
    """The CheckCommand with each argument's description ending in its rules."""
    text = COMMAND.read_text()
    variables = {m["flag"]: _VARIABLE.search(m["body"]) for m in _ARGUMENT.finditer(text)}
    names = {flag: found["name"] for flag, found in variables.items() if found}
    by_flag = {flag: option for option in OPTIONS for flag in option.flags}

    def name(flag: str) -> str:
        spellings = by_flag[flag].flags
        return next((names[f] for f in spellings if f in names), flag)

    def argument(match: re.Match) -> str:
        body = _DESCRIPTION.sub(
            lambda d: d[1] + _with_rules(_words(d[2]), phrases(by_flag[match["flag"]], OPTIONS,
                                                               name)) + d[3],
            match["body"],
        )  # fmt: skip
        return match[0].replace(match["body"], body)

    return _ARGUMENT.sub(argument, text)


def main() -> int:
    outdated = [path for path, text in ((README, readme()), (COMMAND, command()))
                if path.read_text() != text]  # fmt: skip
    if "--check" in sys.argv[1:]:
        for path in outdated:
            print(f"{path.relative_to(ROOT)} is out of date: run make docs", file=sys.stderr)
        return 1 if outdated else 0
    new_readme, new_command = readme(), command()
    README.write_text(new_readme)
    COMMAND.write_text(new_command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
