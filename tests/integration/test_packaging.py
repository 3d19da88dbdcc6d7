"""The forms it ships in: an sdist that holds everything to test and package it, a wheel that
twine accepts, the single file (make pyz) run as user nagios, the Debian packaging's version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, TIME_PATTERN, private_directory, unavailable, user_nagios
from servers import smtpd

import check_smtp_helo

pytestmark = pytest.mark.integration  # needs the dev tools (build, twine) and Debian's Python

SYSTEM_PYTHON = "/usr/bin/python3"
# what a distribution needs to test and package the sdist, besides the package itself
SDIST_HOLDS = [
    "LICENSE",
    "README.md",
    "Makefile",
    "MANIFEST.in",
    "tests/conftest.py",
    "tests/support/helpers.py",
    "tests/support/servers.py",
    "tests/unit/test_text.py",
    "icinga-config/icinga2/smtp_helo-command.conf",
    "icinga-config/nagios/smtp_helo-commands.cfg",
    "packaging/debian/control",
    "packaging/pyz.py",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The sdist and the wheel (from the sdist), as make dist builds them."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


def test_twine_accepts_the_sdist_and_the_wheel(built):
    files = sorted(built.iterdir())
    assert [f.name for f in files] == [
        f"check_smtp_helo-{check_smtp_helo.__version__}-py3-none-any.whl",
        f"check_smtp_helo-{check_smtp_helo.__version__}.tar.gz",
    ]
    twine = Path(sys.executable).with_name("twine")
    proc = subprocess.run(
        [str(twine), "check", "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_the_unit_tests_run_from_the_unpacked_sdist(built, tmp_path):
    subprocess.run(
        ["tar", "-xzf", str(next(built.glob("*.tar.gz"))), "-C", str(tmp_path)], check=True
    )
    source = tmp_path / f"check_smtp_helo-{check_smtp_helo.__version__}"
    missing = [name for name in SDIST_HOLDS if not (source / name).is_file()]
    assert not missing, missing
    assert not list(source.rglob("__pycache__")), "the sdist carries bytecode"
    # the unpacked package, not the installed one, is under test
    environment = {**os.environ, "PYTHONPATH": str(source)}
    where = subprocess.run(
        [sys.executable, "-c", "import check_smtp_helo; print(check_smtp_helo.__file__)"],
        capture_output=True, text=True, cwd=source, env=environment, check=True,
    )  # fmt: skip
    assert where.stdout.strip() == str(source / "check_smtp_helo" / "__init__.py")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        capture_output=True, text=True, cwd=source, env=environment, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # (a warning names what other programs made in /tmp meanwhile: private_tmp.py)
    assert re.search(r"^\d+ passed(, \d+ warnings?)? in ", proc.stdout.splitlines()[-1]), (
        proc.stdout
    )


def test_the_debian_packages_plugin_runs_the_package():
    """The script the package installs as the plugin, here on the checkout's modules."""
    if not Path(SYSTEM_PYTHON).exists():
        unavailable("the package's plugin runs on Debian's /usr/bin/python3")
    debian_nagiosplugin = [SYSTEM_PYTHON, "-c", "import nagiosplugin"]
    if subprocess.run(debian_nagiosplugin, capture_output=True, check=False).returncode != 0:
        unavailable(
            "the package's plugin runs on Debian's python3-nagiosplugin, which is not installed: "
            "apt-get install python3-nagiosplugin"
        )
    script = ROOT / "packaging" / "debian" / "check_smtp_helo"
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(script), "-V"], capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (3, f"check_smtp_helo {check_smtp_helo.__version__}\n")


def test_the_debian_package_has_the_project_version():
    changelog = (ROOT / "packaging" / "debian" / "changelog").read_text()
    assert changelog.startswith(f"check-smtp-helo ({check_smtp_helo.__version__}) "), changelog


@pytest.fixture(scope="module")
def pyz(tmp_path_factory) -> Path:
    """make pyz, into a directory that user nagios can enter."""
    if not Path(SYSTEM_PYTHON).exists():
        unavailable("the single file is built for Debian's /usr/bin/python3")
    target = private_directory("pyz") / "check_smtp_helo.pyz"
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "pyz.py"), "--python", SYSTEM_PYTHON,
         str(target)],
        check=True, capture_output=True,
    )  # fmt: skip
    yield target
    shutil.rmtree(target.parent)


def run_pyz(command: list[str]) -> subprocess.CompletedProcess:
    """Run the single file away from the checkout, so that nothing of it can be imported."""
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "PYTHONVERBOSE": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, cwd="/", env=environment, check=False
    )


def imported_from(stderr: str, module: str) -> str:
    """Where the interpreter (PYTHONVERBOSE) says it imported a module from."""
    match = re.search(rf"^import '{module}' # (.*)$", stderr, re.MULTILINE)
    assert match, stderr[-2000:]
    return match.group(1)


def test_the_single_file_runs_on_the_system_python_with_nagiosplugin_inside(pyz):
    with smtpd() as port:
        proc = run_pyz([SYSTEM_PYTHON, str(pyz), "-H", "127.0.0.1", "-p", str(port), "-w", "1"])
    assert proc.returncode == 0, proc
    assert proc.stdout.startswith(f"SMTP OK - 127.0.0.1:{port} answered in "), proc.stdout
    assert f'zipimporter object "{pyz}/"' in imported_from(proc.stderr, "nagiosplugin")
    assert f'zipimporter object "{pyz}/"' in imported_from(proc.stderr, "check_smtp_helo")


def test_the_single_file_runs_by_its_shebang_as_nagios(pyz):
    if os.geteuid() != 0:
        unavailable("running the single file as user nagios needs root: sudo make test")
    user_nagios()
    pyz.chmod(0o755)
    with smtpd() as port:
        proc = run_pyz(["runuser", "-u", "nagios", "--", str(pyz), "-H", "127.0.0.1",
                        "-p", str(port), "-t", "5"])  # fmt: skip
    assert proc.returncode == 0, proc
    assert re.match(rf"SMTP OK - 127\.0\.0\.1:{port} answered in {TIME_PATTERN}, ", proc.stdout)
    assert "Traceback" not in proc.stderr


def test_the_single_file_says_unknown_to_bad_input(pyz):
    proc = run_pyz([SYSTEM_PYTHON, str(pyz), "-H", "smtp://mx.example.com"])
    assert (proc.returncode, proc.stdout) == (
        3,
        "SMTP UNKNOWN - host 'smtp://mx.example.com' has a scheme: give the bare name or address\n",
    )
