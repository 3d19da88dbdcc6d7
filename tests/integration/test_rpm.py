"""The RPM for RHEL 9 and EPEL (make rpm): built by rpmbuild from a fresh sdist, as
packaging/rpm/build does it for make rpm; rpmlint with the filters EPEL's reviewers use; its
files and requirements against the sdist and the layout of EPEL's nagios-plugins packages; its
payload, unpacked with rpm2cpio, run by the installed launcher under Debian's /usr/bin/python3
and under CPython 3.9 (RHEL 9's), with nothing but the required modules on the path, against a
private Postfix; its CheckCommand validated by Icinga 2 with RHEL's PluginDir.

Not proven here: an installation by dnf on a real RHEL host (README says so).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import ROOT, TIME_PATTERN, private_directory, unavailable, user_nagios
from packaging.requirements import Requirement
from test_installed import ONE_SERVICE
from test_postfix_greeting import BANNER, mta  # noqa: F401 -- the private Postfix, a fixture
from test_stock_config import StockIcinga

import check_smtp_helo

pytestmark = pytest.mark.integration  # rpm, rpmlint, Postfix, Icinga 2: .ci/run installs them

VERSION = check_smtp_helo.__version__
SPEC = ROOT / "packaging" / "rpm" / "check-smtp-helo.spec"
RPMLINT_CONFIG = ROOT / "packaging" / "rpm" / "rpmlint.toml"
PLUGIN_DIR = "/usr/lib64/nagios/plugins"  # Icinga's PluginDir and Nagios' $USER1$ on RHEL
PLUGIN = f"{PLUGIN_DIR}/check_smtp_helo"
PRIVATE = "/usr/share/check-smtp-helo"
LAUNCHER = f"{PRIVATE}/launcher"
DOC = "/usr/share/doc/check-smtp-helo"
CHECK_COMMAND = "/usr/share/icinga2/include/plugins-contrib.d/smtp_helo.conf"
NAGIOS_COMMAND = "/etc/nagios/conf.d/smtp_helo.cfg"
# the configuration files installed as such, and so not among the examples in the docs
INSTALLED_CONFIG = {
    CHECK_COMMAND: "icinga-config/icinga2/smtp_helo-command.conf",
    NAGIOS_COMMAND: "icinga-config/nagios/smtp_helo-commands.cfg",
}
# the package's own directories; the others it shares with the engines' packages
OWN_DIRS = (PRIVATE, DOC, "/usr/share/licenses/check-smtp-helo")
# directories of the filesystem package, which no other package owns
FILESYSTEM = {
    "/",
    "/etc",
    "/usr",
    "/usr/lib64",
    "/usr/share",
    "/usr/share/doc",
    "/usr/share/licenses",
}
# setup.cfg's requirements by the names RHEL 9 (python3-idna, python3-dns) and EPEL 9
# (python3-nagiosplugin) give them, and by the names they are imported by
RPM_NAMES = {
    "nagiosplugin": "python3-nagiosplugin",
    "idna": "python3-idna",
    "dnspython": "python3-dns",
}
IMPORT_NAMES = {"nagiosplugin": "nagiosplugin", "idna": "idna", "dnspython": "dns"}
DEBIAN_DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")
SYSTEM_PYTHON = "/usr/bin/python3"


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def requirements() -> list[Requirement]:
    return [Requirement(line) for line in setup_cfg()["options"]["install_requires"].split()]


def python39() -> str:
    """CPython 3.9, RHEL 9's Python: on PATH, or among pyenv's versions."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = sorted(root.glob("versions/3.9*/bin/python3.9"), reverse=True)
    found += [Path(p) for p in [shutil.which("python3.9")] if p and ".pyenv/shims" not in p]
    if not found:
        unavailable("CPython 3.9 is not installed, RHEL 9's Python: pyenv install 3.9")
    return str(found[0])


def cache_tag(python: str) -> str:
    return subprocess.run(
        [python, "-S", "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    """A fresh sdist, as make dist builds it."""
    for tool in ("rpmbuild", "rpmlint", "rpm2cpio", "cpio"):
        if not shutil.which(tool):
            unavailable(f"{tool} is not installed: apt-get install rpm rpm2cpio cpio rpmlint")
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return out / f"check_smtp_helo-{VERSION}.tar.gz"


def build_rpm(sdist: Path, out: Path, python: str) -> Path:
    """The RPM from the sdist, its modules compiled for python: packaging/rpm/build."""
    proc = subprocess.run(
        [str(ROOT / "packaging" / "rpm" / "build"), str(sdist), str(out), python],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (package,) = out.glob("check-smtp-helo-*.rpm")
    return package


@pytest.fixture(scope="module")
def rpm(sdist, tmp_path_factory) -> Path:
    """The RPM as make rpm builds it, for Debian's /usr/bin/python3."""
    if not Path(SYSTEM_PYTHON).exists():
        unavailable("make rpm compiles the modules with Debian's /usr/bin/python3")
    return build_rpm(sdist, tmp_path_factory.mktemp("rpm"), SYSTEM_PYTHON)


@pytest.fixture(scope="module")
def rpm39(sdist, tmp_path_factory) -> tuple[Path, str]:
    """The RPM for RHEL 9's Python (make rpm RPM_PYTHON=.../python3.9), and that Python."""
    python = python39()
    return build_rpm(sdist, tmp_path_factory.mktemp("rpm39"), python), python


def query(package: Path, *options: str) -> list[str]:
    proc = subprocess.run(
        ["rpm", "-qp", *options, str(package)], capture_output=True, text=True, check=True
    )
    return proc.stdout.splitlines()


def unpack(package: Path, prefix: str) -> Path:
    """The payload, as rpm2cpio and cpio unpack it, in a directory user nagios can enter."""
    root = private_directory(prefix)
    payload = subprocess.run(["rpm2cpio", str(package)], capture_output=True, check=True).stdout
    subprocess.run(["cpio", "-idm", "--quiet"], input=payload, cwd=root, check=True)
    return root


def sdist_files(sdist: Path) -> dict[str, bytes]:
    """Every file of the sdist by its path in the source tree."""
    with tarfile.open(sdist) as archive:
        return {
            member.name.split("/", 1)[1]: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


def expected_files(sdist: Path, tag: str) -> dict[str, str]:
    """Every file (not directory) the RPM must hold, by its type: the package directory as the
    sdist has it, each module with its bytecode for the interpreter of cache tag tag, the
    launcher and its link in the plugin directory, the two configuration files, the docs."""
    files = {
        PLUGIN: "link",
        LAUNCHER: "file",
        CHECK_COMMAND: "file",
        NAGIOS_COMMAND: "file",
        "/usr/share/licenses/check-smtp-helo/LICENSE": "file",
        f"{DOC}/README.md": "file",
    }
    for name in sdist_files(sdist):
        path = Path(name)
        if path.parts[0] == "check_smtp_helo":
            files[f"{PRIVATE}/{name}"] = "file"
            if path.suffix == ".py":
                pyc = path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc"
                files[f"{PRIVATE}/{pyc}"] = "file"
        elif path.parts[0] == "docs":
            files[f"{DOC}/{name}"] = "file"
        elif path.parts[0] == "icinga-config" and name not in INSTALLED_CONFIG.values():
            files[f"{DOC}/examples/{path.relative_to('icinga-config')}"] = "file"
    return files


def listing(package: Path) -> dict[str, str]:
    """The RPM's paths by their type: dir, file or link."""
    kinds = {"d": "dir", "-": "file", "l": "link"}
    return {
        line.split(" ", 1)[1]: kinds[line[0]]
        for line in query(package, "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]")
    }


def test_the_spec_has_the_project_version():
    assert re.search(rf"^Version:\s+{re.escape(VERSION)}$", SPEC.read_text(), re.M)


def test_rpmlint_finds_no_error_and_the_spec_explains_each_warning(rpm):
    proc = subprocess.run(
        ["rpmlint", "--config", str(RPMLINT_CONFIG), str(SPEC), str(rpm)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\bchecked; 0 errors, ", proc.stdout), proc.stdout
    warnings = set(re.findall(r"^\S+: W: (\S+)", proc.stdout, re.M))
    explained = set(re.findall(r"^# rpmlint: (\S+) -- ", SPEC.read_text(), re.M))
    # every warning explained, and no explanation of a warning that no longer comes
    assert warnings == explained, proc.stdout


def test_the_package_is_noarch_and_holds_what_the_sdist_has_where_epel_puts_it(rpm, sdist):
    assert query(rpm, "--qf", "%{NAME} %{VERSION} %{ARCH}") == [f"check-smtp-helo {VERSION} noarch"]
    found = listing(rpm)
    files = {path: kind for path, kind in found.items() if kind != "dir"}
    assert files == expected_files(sdist, cache_tag(SYSTEM_PYTHON))
    # the directories of those files, the filesystem package's left out: the engines' ones
    # (/etc/nagios/conf.d, /usr/lib64/nagios/plugins, plugins-contrib.d) shared, as neither
    # engine is required
    parents = {str(parent) for path in files for parent in Path(path).parents}
    assert {path for path, kind in found.items() if kind == "dir"} == parents - FILESYSTEM
    # nothing in lib64 but the link to the launcher: the package is noarch on each architecture
    links = query(rpm, "--qf", "[%{FILENAMES} %{FILELINKTOS}\n]")
    assert f"{PLUGIN} ../../../share/check-smtp-helo/launcher" in links
    assert os.path.normpath(f"{PLUGIN_DIR}/../../../share/check-smtp-helo/launcher") == LAUNCHER
    assert query(rpm, "--configfiles") == [NAGIOS_COMMAND]
    flags = query(rpm, "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
    assert f"cn {NAGIOS_COMMAND}" in flags  # %config(noreplace): an edited copy stays


def test_the_package_requires_what_setup_cfg_does_by_rhel_and_epel_names(rpm):
    expected = {"/usr/bin/python3"}  # the launcher's interpreter, found by rpmbuild
    python_requires = setup_cfg()["options"]["python_requires"]
    expected.add(f"python3 {python_requires[:2]} {python_requires[2:]}")
    for requirement in requirements():
        name = RPM_NAMES[requirement.name]
        bounds = sorted(requirement.specifier, key=lambda bound: not bound.operator.startswith(">"))
        terms = [f"{name} {bound.operator} {bound.version}" for bound in bounds]
        expected.add(terms[0] if len(terms) == 1 else f"({' with '.join(terms)})")
    requires = query(rpm, "--requires")
    assert {line for line in requires if not line.startswith(("rpmlib(", "config("))} == expected


# The payload's runs: the interpreter's standard library, the payload and a directory with
# copies of Debian's nagiosplugin, idna and dnspython (the declared dependencies; Debian 12's
# versions are RHEL 9's and EPEL 9's, or close), nothing else: -S leaves site-packages out.


@pytest.fixture(scope="module")
def dependencies() -> Path:
    missing = [name for name in IMPORT_NAMES.values() if not (DEBIAN_DIST_PACKAGES / name).is_dir()]
    if missing:
        unavailable(
            f"Debian's {', '.join(missing)} missing: "
            "apt-get install python3-nagiosplugin python3-idna python3-dnspython"
        )
    directory = private_directory("rpm-dependencies")
    for name in IMPORT_NAMES.values():
        shutil.copytree(
            DEBIAN_DIST_PACKAGES / name,
            directory / name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    yield directory
    shutil.rmtree(directory)


@pytest.fixture(scope="module")
def payload(rpm):
    root = unpack(rpm, "rpm-payload")
    yield root
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def payload39(rpm39):
    package, python = rpm39
    root = unpack(package, "rpm-payload39")
    yield root, python
    shutil.rmtree(root)


def run_installed(
    python: str, root: Path, dependencies: Path, *args: str, user: str = ""
) -> subprocess.CompletedProcess:
    """The installed plugin (the link in the plugin directory, to the launcher) run by python
    without site-packages, from /, with a bare environment; as user when given."""
    environment = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C",
        "PYTHONVERBOSE": "1",
        "PYTHONPATH": str(dependencies),
    }
    command = [python, "-S", "-s", str(root / PLUGIN.lstrip("/")), *args]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(
        command, capture_output=True, text=True, cwd="/", env=environment, check=False
    )


def loaded_files(stderr: str) -> list[str]:
    """Every file the interpreter (PYTHONVERBOSE) took code from: bytecode, source, extensions."""
    code = re.findall(r"^# code object from '?([^']+?)'?$", stderr, re.M)  # quoted: bytecode
    return code + re.findall(r"^# extension module '[^']+' loaded from '([^']+)'$", stderr, re.M)


def assert_only_declared_modules(python: str, root: Path, dependencies: Path, stderr: str) -> None:
    """The code came from the standard library, the payload's private directory (bytecode
    only: nothing compiled) and the dependencies' directory, and the package from the payload."""
    paths = subprocess.run(
        [
            python,
            "-S",
            "-c",
            "import json, sysconfig; print(json.dumps(sorted({sysconfig."
            "get_path('stdlib'), sysconfig.get_path('platstdlib')})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    private = f"{root}{PRIVATE}/"
    allowed = (*[f"{path}/" for path in json.loads(paths.stdout)], private, f"{dependencies}/")
    loaded = loaded_files(stderr)
    assert f"{private}check_smtp_helo/__pycache__/__init__.{cache_tag(python)}.pyc" in loaded
    assert [path for path in loaded if not path.startswith(allowed)] == []
    assert [path for path in loaded if path.startswith(private) and path.endswith(".py")] == []
    # (idna only for international names, dnspython only for the mail domain options)
    assert any(path.startswith(f"{dependencies}/nagiosplugin/") for path in loaded), loaded


def check_starttls(python: str, root: Path, dependencies: Path, mta, user: str = "") -> None:  # noqa: F811
    """The installed plugin checks Postfix with STARTTLS: OK, on the declared modules only."""
    server, ca = mta
    args = ["-H", "localhost", "-p", str(server.plain), "-S", "--ca-file", ca, "-D", "30"]
    proc = run_installed(python, root, dependencies, *args, user=user)
    assert proc.returncode == 0, proc
    assert re.match(
        rf"SMTP OK - localhost:{server.plain} \(127\.0\.0\.1\) answered in {TIME_PATTERN}, "
        rf"{re.escape(BANNER)}, tls: TLSv1\.3 \(certificate expires in 90 days\) \| ",
        proc.stdout,
    ), proc.stdout
    assert "Traceback" not in proc.stderr
    assert_only_declared_modules(python, root, dependencies, proc.stderr)


def as_nagios() -> str:
    """The user the engines run checks as; switching to it needs root."""
    if os.geteuid() != 0:
        unavailable("running the plugin as user nagios needs root: sudo make test")
    user_nagios()
    return "nagios"


def test_the_payload_runs_on_debians_python_as_nagios(payload, dependencies, mta):  # noqa: F811
    check_starttls(SYSTEM_PYTHON, payload, dependencies, mta, user=as_nagios())


@pytest.mark.pythons
def test_the_payload_runs_on_cpython_3_9(payload39, dependencies, mta):  # noqa: F811
    root, python = payload39
    check_starttls(python, root, dependencies, mta)


def test_the_installed_plugin_runs_by_its_shebang_as_nagios(payload):
    plugin = payload / PLUGIN.lstrip("/")
    assert (payload / LAUNCHER.lstrip("/")).read_text().startswith("#!/usr/bin/python3 -s\n")
    proc = subprocess.run(
        ["runuser", "-u", as_nagios(), "--", str(plugin), "-V"],
        capture_output=True,
        text=True,
        cwd="/",
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (3, f"check_smtp_helo {VERSION}\n"), proc


def test_the_configuration_files_are_the_shipped_ones(payload):
    for installed, shipped in INSTALLED_CONFIG.items():
        assert (payload / installed.lstrip("/")).read_text() == (ROOT / shipped).read_text()


class RhelIcinga(StockIcinga):
    """Debian's stock /etc/icinga2 (a copy) with the plugin directories of the constants.conf
    of Icinga's RHEL packages, on the ITL of Debian's icinga2-common with the RPM's
    CheckCommand in plugins-contrib.d, and the one service README's package setup has."""

    def __init__(self, stock: Path, payload: Path) -> None:
        super().__init__(stock)
        include = self.base / "include"
        shutil.copytree(self.include, include)
        shutil.copy(payload / CHECK_COMMAND.lstrip("/"), include / "plugins-contrib.d")
        self.include = include
        constants = self.etc / "icinga2" / "constants.conf"
        text, count = re.subn(
            r"^const (PluginDir|ManubulonPluginDir|PluginContribDir) = .*$",
            rf'const \1 = "{PLUGIN_DIR}"',
            constants.read_text(),
            flags=re.M,
        )
        assert count == 3, text
        constants.write_text(text)
        (self.etc / "icinga2" / "conf.d" / "smtp.conf").write_text(ONE_SERVICE)


def test_icinga_validates_the_check_command_with_rhels_plugin_dir(stock, payload, made_engines):
    made_engines.append(RhelIcinga(stock, payload))
    objects = made_engines[-1].objects()  # icinga2 daemon -C, which must pass
    assert objects["CheckCommand", "smtp_helo"]["command"] == [PLUGIN]
    services = [
        props
        for (kind, name), props in objects.items()
        if kind == "Service" and name.endswith("!smtp")
    ]
    assert [service["check_command"] for service in services] == ["smtp_helo"]
    assert (payload / PLUGIN.lstrip("/")).resolve() == payload / LAUNCHER.lstrip("/")


def readme_rpm_block() -> str:
    """README's "RHEL, Rocky, Alma" block in Installing, up to the next paragraph or heading."""
    text = (ROOT / "README.md").read_text()
    block = text.split("\n**RHEL, Rocky, Alma.**", 1)[1]
    return re.split(r"\n\n(?:\*\*|#|`(?!``))", block)[0]  # a code block (```) is part of it


def test_readme_names_every_file_the_package_installs(rpm):
    """Each file by its path, or by a directory of the package's own that holds it (not one it
    shares with the engines' packages, such as the plugin directory)."""
    named = {name.rstrip("/") for name in re.findall(r"`(/[^`\s]+)`", readme_rpm_block())}
    found = listing(rpm)
    own = {path for path, kind in found.items() if kind == "dir" and path.startswith(OWN_DIRS)}
    unnamed = [
        path
        for path, kind in found.items()
        if kind != "dir"
        and path not in named
        and not any(path.startswith(f"{name}/") for name in named & own)
    ]
    assert unnamed == [], sorted(named)
