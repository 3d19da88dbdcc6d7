"""Integration: the shipped files, installed by README's own commands into copies of Debian's
stock /etc/icinga2 and /etc/nagios4, next to the stock objects.

The copies come from the installed packages as shipped (the `stock` fixture), with what
their maintainer scripts add on a fresh install: the Icinga 2 features that icinga2-bin's
postinst enables, the command definitions that monitoring-plugins' postinst copies to
/etc/nagios-plugins/config. Every path setting points into the test's own directory. Each
engine validates its copy before and after the install; every stock file and object must
still be there, and the examples must load on the stock templates, with no stand-ins.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from engines import NAGIOS, NAGIOS_PATHS, PrivateEngine, icinga_daemon, nagios_paths
from helpers import ROOT

pytestmark = pytest.mark.integration

# What icinga2-bin's postinst enables on a fresh install.
ICINGA_DEFAULT_FEATURES = ("checker", "notification", "mainlog")
# The example host and its SMTP services (and its mail domain), as the shipped examples name them.
EXAMPLE_HOST = "mail.example.com"
EXAMPLE_SERVICES = {
    f"{EXAMPLE_HOST}!{name}"
    for name in ("smtp", "smtp-starttls", "submission", "submissions", "mail-domain-example.com")
}

Objects = dict[tuple[str, str], dict]


def readme_commands(section: str) -> list[str]:
    """The commands README's section gives for installing the shipped files."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [
        line
        for block in re.findall(r"```sh\n(.*?)```", body, re.S)
        for line in block.splitlines()
        if line.startswith(("install ", "echo 'cfg_file="))
    ]


def install_as_readme_says(section: str, etc: Path, renamed: tuple[str, str] = ("", "")) -> None:
    """Run README's install commands for section with etc standing for /etc, and one
    target name changed where a test asks for it."""
    commands = readme_commands(section)
    assert commands, f"README's {section} section gives no install commands"
    for command in commands:
        target = command.replace(*renamed) if renamed[0] else command
        private = re.sub(r"(?<=[ =])/etc/", f"{etc}/", target)
        subprocess.run(["sh", "-ec", private], cwd=ROOT, check=True)


def contents(directory: Path) -> dict[str, bytes]:
    """Every file below directory, by its relative path."""
    files = (path for path in directory.rglob("*") if path.is_file())
    return {str(path.relative_to(directory)): path.read_bytes() for path in files}


def lost(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Stock files that are gone or changed; lines added at the end (cfg_file=) are kept."""
    return [path for path, text in before.items() if not after.get(path, b"").startswith(text)]


def names(objects, kind: str) -> set[str]:
    return {name for found, name in objects if found == kind}


class StockEngine(PrivateEngine):
    """A copy of an engine's stock configuration in etc, whose objects() validates it and
    returns what the engine made of it; section names README's section that installs into it."""

    section = ""
    etc: Path

    def objects(self) -> Objects:
        raise NotImplementedError

    def install(self, renamed: tuple[str, str] = ("", "")) -> tuple[list[str], Objects, Objects]:
        """Install as README's section says: the stock files lost, the objects before and after."""
        stock_files, before = contents(self.etc), self.objects()
        install_as_readme_says(self.section, self.etc, renamed)
        return lost(stock_files, contents(self.etc)), before, self.objects()


class StockIcinga(StockEngine):
    """A copy of Debian's stock /etc/icinga2 as a fresh install has it, on the ITL as the
    package ships it (not /usr/share/icinga2/include, where other packages add commands)."""

    section = "Icinga 2"

    def __init__(self, stock: Path) -> None:
        super().__init__("stock-icinga")
        self.etc = self.base / "etc"
        shutil.copytree(stock / "icinga2-common" / "etc", self.etc, symlinks=True)
        # The ITL as the package ships it: <itl>, <plugins>, <plugins-contrib> ...
        self.include = stock / "icinga2-common" / "usr" / "share" / "icinga2" / "include"
        enabled = self.etc / "icinga2" / "features-enabled"
        for feature in ICINGA_DEFAULT_FEATURES:
            (enabled / f"{feature}.conf").symlink_to(f"../features-available/{feature}.conf")

    def objects(self) -> Objects:
        """Validate; every object Icinga made, by type and name, from its objects file."""
        config = self.etc / "icinga2" / "icinga2.conf"
        command = icinga_daemon(config, self.base, f"-DIncludeConfDir={self.include}", "-C")
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout
        data = (self.base / "var" / "cache" / "icinga2.debug").read_bytes()
        found, at = {}, 0
        while at < len(data):  # netstrings: length, ':', JSON, ','
            colon = data.index(b":", at)
            end = colon + 1 + int(data[at:colon])
            item = json.loads(data[colon + 1 : end])
            found[item["type"], item["properties"]["__name"]] = item["properties"]
            at = end + 1
        return found


class StockNagios(StockEngine):
    """A copy of Debian's stock /etc/nagios4 and of monitoring-plugins' command definitions,
    every path setting of nagios.cfg pointed into the test's own directory."""

    section = "Nagios"

    def __init__(self, stock: Path) -> None:
        super().__init__("stock-nagios")
        self.etc = self.base / "etc"
        shutil.copytree(stock / "nagios4-common" / "etc", self.etc, symlinks=True)
        commands = self.etc / "nagios-plugins" / "config"
        commands.mkdir(parents=True)
        for template in stock.glob("monitoring-plugins-*/usr/share/monitoring-plugins/*/*.cfg"):
            shutil.copy(template, commands / template.name)
        self.main = self.etc / "nagios4" / "nagios.cfg"
        text = self.main.read_text().replace("=/etc/", f"={self.etc}/")
        text = re.sub(rf"^(?:{'|'.join(NAGIOS_PATHS)})=.*\n", "", text, flags=re.M)
        self.main.write_text(text + nagios_paths(self.base / "var"))

    def objects(self) -> Objects:
        """Validate; every host and service Nagios read, from its precached objects file."""
        command = [NAGIOS, "-vp", str(self.main)]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout
        assert "Total Warnings: 0" in proc.stdout, proc.stdout
        text = (self.base / "var" / NAGIOS_PATHS["precached_object_file"]).read_text()
        found = {}
        for kind, body in re.findall(r"define (host|service) \{\n(.*?)\n\s*\}", text, re.S):
            fields = dict(line.strip().split("\t", 1) for line in body.splitlines())
            name = fields["host_name"]
            if kind == "service":
                name += "!" + fields["service_description"]
            found[kind, name] = fields
        return found


@pytest.fixture
def stock_icinga(stock, made_engines) -> StockIcinga:
    made_engines.append(StockIcinga(stock))
    return made_engines[-1]


@pytest.fixture
def stock_nagios(stock, made_engines) -> StockNagios:
    made_engines.append(StockNagios(stock))
    return made_engines[-1]


def assert_display_names_read_well(objects: Objects, kind: str) -> None:
    """No example service is called 'SMTP smtp': no word twice in a row."""
    for name in EXAMPLE_SERVICES:
        display_name = objects[kind, name]["display_name"]
        assert not re.search(r"(?i)\b(\w+) \1\b", display_name), display_name


def test_no_shipped_file_has_the_name_of_a_stock_file(stock):
    shipped = {path.name for path in (ROOT / "icinga-config").rglob("*") if path.is_file()}
    taken = {path.name for path in stock.rglob("*") if path.is_file()}
    assert shipped
    assert shipped & taken == set()


def test_icinga_2_install_keeps_every_stock_object(stock_icinga):
    lost_files, before, after = stock_icinga.install()

    assert lost_files == []
    assert before.keys() <= after.keys()
    assert len(names(after, "Host")) == len(names(before, "Host")) + 1
    added = after.keys() - before.keys()
    assert names(added, "Host") == {EXAMPLE_HOST}
    # The example services, and the stock apply rules' services (ping4, ...) on the new host.
    assert names(added, "Service") >= EXAMPLE_SERVICES
    assert {name.split("!")[0] for name in names(added, "Service")} == {EXAMPLE_HOST}
    assert "generic-host" in after["Host", EXAMPLE_HOST]["templates"]
    assert_display_names_read_well(after, "Service")


def test_a_shipped_file_named_like_a_stock_file_loses_stock_objects(stock_icinga):
    """What the prefixed names prevent: a shipped file named services.conf replaces the stock
    one, and validation still passes with the stock services gone."""
    renamed = ("conf.d/smtp_helo-services.conf", "conf.d/services.conf")
    lost_files, before, after = stock_icinga.install(renamed)

    assert lost_files == ["icinga2/conf.d/services.conf"]
    gone = names(before.keys() - after.keys(), "Service")
    assert {name.split("!")[1] for name in gone} >= {"ping4", "ssh", "disk", "load", "procs"}


def test_nagios_install_keeps_every_stock_object(stock_nagios):
    lost_files, before, after = stock_nagios.install()

    assert lost_files == []
    assert before.keys() <= after.keys()
    assert len(names(after, "host")) == len(names(before, "host")) + 1
    assert len(names(after, "service")) == len(names(before, "service")) + len(EXAMPLE_SERVICES)
    assert after.keys() - before.keys() == {("host", EXAMPLE_HOST)} | {
        ("service", name) for name in EXAMPLE_SERVICES
    }
    assert_display_names_read_well(after, "service")
