"""Integration: the plugin as an administrator installed it, run as user nagios.

.ci/run installs it each way README shows (pip in a venv, apt only, the Debian package, the
single file), at /usr/lib/nagios/plugins/check_smtp_helo, and runs this module once for each
with INSTALLED set to the way, and NAGIOSPLUGIN_FROM to the directory nagiosplugin must come
from. After `apt-get purge`, INSTALLED=purged checks that the package left nothing behind.
Without INSTALLED (make test) nothing here runs: it needs an installation in system paths.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from engines import NAGIOS_PATHS, PrivateEngine, icinga_paths, nagios_paths, records
from helpers import ROOT, TIME_PATTERN, owned_by, private_directory, unavailable
from test_icinga import perfdata_writer
from test_postfix_greeting import BANNER, mta  # noqa: F401 -- the private Postfix, a fixture

INSTALLED = os.environ.get("INSTALLED", "")
NAGIOSPLUGIN_FROM = os.environ.get("NAGIOSPLUGIN_FROM", "")
PLUGIN = "/usr/lib/nagios/plugins/check_smtp_helo"
PACKAGE = "check-smtp-helo"
ICINGA = "/usr/sbin/icinga2"
NAGIOS = "/usr/sbin/nagios4"
# what Debian's icinga2-bin enables when it is installed
ENABLED_FEATURES = ("checker", "notification", "mainlog")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not INSTALLED, reason="runs after .ci/run installs the plugin"),
]
package_installed = pytest.mark.skipif(INSTALLED != "deb", reason="for the Debian package")
plugin_installed = pytest.mark.skipif(INSTALLED == "purged", reason="the plugin is purged")


def as_nagios(*args: str) -> subprocess.CompletedProcess:
    """The plugin as the engines run it: user nagios, a bare environment, from /."""
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "PYTHONVERBOSE": "1"}
    return subprocess.run(
        ["runuser", "-u", "nagios", "--", PLUGIN, *args],
        capture_output=True, text=True, cwd="/", env=environment, check=False,
    )  # fmt: skip


@plugin_installed
def test_plain_check_as_nagios(mta):  # noqa: F811
    server, _ca = mta
    proc = as_nagios("-H", "localhost", "-p", str(server.plain), "-w", "1", "-c", "2")
    assert proc.returncode == 0, proc
    status = proc.stdout.splitlines()[0]
    assert re.fullmatch(
        rf"SMTP OK - localhost:{server.plain} \(127\.0\.0\.1\) answered in {TIME_PATTERN}, "
        rf"{re.escape(BANNER)} \| .* time=\d+\.\d{{6}}s;1;2;0;10",
        status,
    ), status


@plugin_installed
def test_starttls_check_as_nagios(mta):  # noqa: F811
    server, ca = mta
    proc = as_nagios("-H", "localhost", "-p", str(server.plain), "-S", "--ca-file", ca, "-D", "30")
    assert proc.returncode == 0, proc
    assert "tls: TLSv1.3 (certificate expires in 90 days) | " in proc.stdout, proc.stdout


@plugin_installed
def test_nagiosplugin_comes_from_where_it_was_installed_and_nothing_compiles():
    if not NAGIOSPLUGIN_FROM:
        pytest.fail("set NAGIOSPLUGIN_FROM to where nagiosplugin must come from")
    proc = as_nagios("-V")
    assert proc.returncode == 3 and proc.stdout.startswith("check_smtp_helo "), proc
    sources = re.findall(r"^# code object from '([^']+)'$", proc.stderr, re.MULTILINE)
    zipped = re.findall(r"^import '(\S+)' # <zipimporter object \"([^\"]+)\">", proc.stderr, re.M)
    found = [path for path in sources if "/nagiosplugin/" in path]
    found += [archive for name, archive in zipped if name == "nagiosplugin"]
    assert found and all(path.startswith(NAGIOSPLUGIN_FROM) for path in found), found
    # every module came from bytecode made at installation: user nagios cannot write a
    # cache, and compiling the plugin on each run would cost more than the check itself
    compiled = re.findall(r"^# code object from (/\S+\.py)$", proc.stderr, re.MULTILINE)
    assert not compiled, compiled


class SystemIcinga(PrivateEngine):
    """Debian's stock /etc/icinga2, as a fresh install has it, with one more file in conf.d as
    a new user adds it. Icinga's own directories are private; it runs as nagios, as the
    packaged service does."""

    def __init__(self, stock: Path, config: str, observe: bool = False) -> None:
        if not Path(ICINGA).exists():
            unavailable("Debian's icinga2 is not installed: apt-get install icinga2-bin")
        super().__init__("icinga-system")
        self.etc = self.base / "etc"
        self.perfdata = self.base / "perfdata"
        shutil.copytree(stock / "icinga2-common" / "etc" / "icinga2", self.etc, symlinks=True)
        for feature in ENABLED_FEATURES:
            (self.etc / "features-enabled" / f"{feature}.conf").symlink_to(
                f"../features-available/{feature}.conf"
            )
        (self.etc / "conf.d" / "smtp.conf").write_text(config)
        if observe:  # the test's own PerfdataWriter, apart from what the user writes;
            # the copy enables its own checker
            writer = perfdata_writer(self.perfdata).replace(
                'object CheckerComponent "checker" {}', ""
            )
            (self.etc / "test-observe.conf").write_text(writer)
            with (self.etc / "icinga2.conf").open("a") as main:
                main.write('include "test-observe.conf"\n')
        self.paths = icinga_paths(self.base)
        owned_by("nagios", self.perfdata)
        for path in (self.etc, *self.etc.rglob("*")):
            shutil.chown(path, "nagios", "nagios")

    def command(self, *extra: str) -> list[str]:
        defines = [*self.paths, f"-DConfigDir={self.etc}", f"-DZonesDir={self.etc / 'zones.d'}"]
        return [ICINGA, "daemon", "-c", str(self.etc / "icinga2.conf"), *defines, *extra]

    def validate(self) -> subprocess.CompletedProcess:
        command = self.command("-C", "-DRunAsUser=root", "-DRunAsGroup=root")
        return subprocess.run(command, capture_output=True, text=True, check=False)


# README, "Installing": after the package, this is the whole Icinga 2 setup
ONE_SERVICE = """\
object Service "smtp" {
  host_name = NodeName
  check_command = "smtp_helo"
}
"""


@pytest.fixture
def system_icinga(stock, made_engines):
    def make(config: str, observe: bool = False) -> SystemIcinga:
        made_engines.append(SystemIcinga(stock, config, observe))
        return made_engines[-1]

    return make


@package_installed
def test_icinga_finds_the_command_through_plugins_contrib(system_icinga):
    icinga = system_icinga(ONE_SERVICE)
    assert "include <plugins-contrib>" in (icinga.etc / "icinga2.conf").read_text()
    proc = icinga.validate()
    assert proc.returncode == 0, proc.stdout
    assert "Finished validating the configuration file(s)." in proc.stdout


@package_installed
def test_icinga_runs_the_one_service(mta, system_icinga):  # noqa: F811
    server, _ca = mta
    service = ONE_SERVICE.replace("}", f"  vars.smtp_helo_port = {server.plain}\n}}")
    icinga = system_icinga(service, observe=True)
    mine = "SERVICE::smtp\t"
    seen: dict[str, dict[str, str]] = {}

    def checked() -> bool:
        # the stock services' records too, some with multi-line output: only ours is read
        for path in sorted(icinga.perfdata.glob("service*")):
            ours = [line for line in path.read_text().splitlines() if line.startswith(mine)]
            seen.update(records("\n".join(ours)))
        return "smtp" in seen

    icinga.run_until(icinga.command(), checked)
    record = seen["smtp"]
    assert record["STATE"] == "OK", record
    assert re.fullmatch(
        rf"SMTP OK - 127\.0\.0\.1:{server.plain} answered in {TIME_PATTERN}, {re.escape(BANNER)}",
        record["OUTPUT"].strip(),
    ), record


# README, "Nagios": a service on Debian's stock localhost and generic-service
NAGIOS_SERVICE = """\
define service {
    use                     generic-service
    host_name               localhost
    service_description     SMTP
    check_command           check_smtp_helo!-w 1 -c 2
}
"""


def validate_nagios(stock: Path) -> subprocess.CompletedProcess:
    """`nagios4 -v` on Debian's stock /etc/nagios4 with one service added: its
    cfg_dir=/etc/nagios-plugins/config is where the package puts the command."""
    if not Path(NAGIOS).exists():
        unavailable("Debian's nagios4 is not installed: apt-get install nagios4-core")
    base = private_directory("nagios-system")
    etc = base / "nagios4"
    shutil.copytree(stock / "nagios4-common" / "etc" / "nagios4", etc, symlinks=True)
    (etc / "smtp.cfg").write_text(NAGIOS_SERVICE)
    # its own configuration, and every state, log and spool path private
    main = (etc / "nagios.cfg").read_text().replace("/etc/nagios4/", f"{etc}/")
    kept = [line for line in main.splitlines() if line.split("=", 1)[0] not in NAGIOS_PATHS]
    paths = nagios_paths(base / "var")
    (etc / "nagios.cfg").write_text("\n".join(kept) + f"\n{paths}cfg_file={etc}/smtp.cfg\n")
    try:
        return subprocess.run([NAGIOS, "-v", str(etc / "nagios.cfg")], capture_output=True,
                              text=True, check=False)  # fmt: skip
    finally:
        shutil.rmtree(base)


@package_installed
def test_nagios_finds_the_command_in_nagios_plugins_config(stock):
    proc = validate_nagios(stock)
    assert proc.returncode == 0, proc.stdout
    assert "Total Errors:   0" in proc.stdout, proc.stdout


@package_installed
def test_the_package_installs_where_the_engines_look():
    files = subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True, check=True)
    listed = set(files.stdout.split())
    for path in (
        PLUGIN,
        "/usr/share/icinga2/include/plugins-contrib.d/smtp_helo.conf",
        "/etc/nagios-plugins/config/smtp_helo.cfg",
        "/usr/share/doc/check-smtp-helo/README.md.gz",
        "/usr/share/doc/check-smtp-helo/examples/icinga2/smtp_helo-services.conf",
    ):
        assert path in listed, path
    conffiles = Path(f"/var/lib/dpkg/info/{PACKAGE}.conffiles").read_text().split()
    assert conffiles == ["/etc/nagios-plugins/config/smtp_helo.cfg"]
    assert Path(PLUGIN).read_text().startswith("#!/usr/bin/python3\n")
    shipped = ROOT / "icinga-config" / "icinga2" / "smtp_helo-command.conf"
    installed = Path("/usr/share/icinga2/include/plugins-contrib.d/smtp_helo.conf")
    assert installed.read_text() == shipped.read_text()


@pytest.mark.skipif(INSTALLED != "purged", reason="after apt-get purge")
def test_purge_leaves_nothing_behind(system_icinga, stock):
    state = subprocess.run(["dpkg-query", "-W", PACKAGE], capture_output=True, check=False)
    assert state.returncode != 0, "dpkg still knows the package (config files left?)"
    package = next((ROOT / "dist").glob(f"{PACKAGE}_*_all.deb"))
    contents = subprocess.run(
        ["dpkg-deb", "--contents", str(package)], capture_output=True, text=True, check=True
    )
    left = []
    for line in contents.stdout.splitlines():
        path = "/" + line.split()[5].removeprefix("./").rstrip("/")
        if path == "/" or not os.path.lexists(path):
            continue
        owner = subprocess.run(["dpkg", "-S", path], capture_output=True, check=False)
        if not (os.path.isdir(path) and owner.returncode == 0):
            left.append(path)  # a file, or a directory that no other package owns
    assert not left, left
    proc = system_icinga(ONE_SERVICE).validate()
    assert proc.returncode != 0
    assert "Validation failed for object" in proc.stdout, proc.stdout
    proc = validate_nagios(stock)
    assert proc.returncode != 0
    assert "check_smtp_helo!-w 1 -c 2' specified in service 'SMTP'" in proc.stdout, proc.stdout
