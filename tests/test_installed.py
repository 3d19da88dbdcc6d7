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
from helpers import ROOT, private_directory, unavailable
from test_postfix import BANNER, mta  # noqa: F401 -- the private Postfix, a fixture

INSTALLED = os.environ.get("INSTALLED", "")
NAGIOSPLUGIN_FROM = os.environ.get("NAGIOSPLUGIN_FROM", "")
PLUGIN = "/usr/lib/nagios/plugins/check_smtp_helo"
PACKAGE = "check-smtp-helo"
ICINGA = "/usr/sbin/icinga2"
SYSTEM_ICINGA_CONFIG = Path("/etc/icinga2")

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
        rf"SMTP OK - localhost:{server.plain} \(127\.0\.0\.1\) answered in \d+\.\d{{3}}s, "
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


def validate_icinga(config: str) -> subprocess.CompletedProcess:
    """`icinga2 daemon -C` on a copy of the system's /etc/icinga2 with one more file in conf.d,
    as a new user would add it; the copy and Icinga's own directories are private."""
    if not Path(ICINGA).exists() or not SYSTEM_ICINGA_CONFIG.is_dir():
        unavailable("Debian's icinga2 is not installed (.ci/run installs it)")
    base = private_directory("icinga-system")
    etc = base / "etc"
    shutil.copytree(SYSTEM_ICINGA_CONFIG, etc, symlinks=True)
    (etc / "conf.d" / "smtp.conf").write_text(config)
    directories = {"DataDir": "data", "LogDir": "log", "CacheDir": "cache", "SpoolDir": "spool",
                   "InitRunDir": "run"}  # fmt: skip
    for directory in directories.values():
        (base / directory).mkdir()
    defines = [f"-D{name}={base / directory}" for name, directory in directories.items()]
    defines += [f"-DConfigDir={etc}", f"-DZonesDir={etc / 'zones.d'}", "-DRunAsUser=root",
                "-DRunAsGroup=root"]  # fmt: skip
    command = [ICINGA, "daemon", "-C", "-c", str(etc / "icinga2.conf"), *defines]
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(base)


# README, "Installing": after the package, this is the whole Icinga 2 setup
ONE_SERVICE = """\
object Service "smtp" {
  host_name = NodeName
  check_command = "smtp_helo"
}
"""


@package_installed
def test_icinga_finds_the_command_through_plugins_contrib():
    assert "include <plugins-contrib>" in (SYSTEM_ICINGA_CONFIG / "icinga2.conf").read_text()
    proc = validate_icinga(ONE_SERVICE)
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"Instantiated \d+ Services?\.", proc.stdout), proc.stdout


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
def test_purge_leaves_nothing_behind():
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
    proc = validate_icinga(ONE_SERVICE)
    assert proc.returncode != 0
    assert "Validation failed for object" in proc.stdout, proc.stdout
