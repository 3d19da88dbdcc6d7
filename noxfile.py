"""make test-pythons: the behaviour tests on every CPython the package supports, and on
Debian's own Python with Debian's nagiosplugin (the apt-only installation).

Interpreters are found at run time: on PATH, and in pyenv's versions when pyenv is there.
A missing one is skipped with its name; with CI set, it fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]  # setup.cfg's classifiers name the same

nox.options.sessions = ["tests", "debian"]
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))
nox.options.reuse_existing_virtualenvs = True


def pyenv_bins() -> list[str]:
    """The bin directories of pyenv's interpreters (before its shims, which answer only for
    the versions selected)."""
    pyenv = shutil.which("pyenv")
    root = os.environ.get("PYENV_ROOT") or (
        subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        if pyenv
        else ""
    )
    versions = Path(root or Path.home() / ".pyenv", "versions")
    if not versions.is_dir():
        return []
    return [str(path / "bin") for path in sorted(versions.iterdir(), reverse=True)]


os.environ["PATH"] = os.pathsep.join([*pyenv_bins(), os.environ.get("PATH", "")])
# the interpreters this machine lacks, in one line before nox names each session's
MISSING = [version for version in PYTHONS if not shutil.which(f"python{version}")]
if MISSING:
    print(
        f"nox: missing interpreters: {' '.join(f'python{v}' for v in MISSING)} "
        f"(pyenv install {' '.join(MISSING)}, or put them on PATH)",
        file=sys.stderr,
    )


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite without the integration tests, which run the engines on Debian's Python."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", "-q", "-m", "not integration", *session.posargs)


# Debian's interpreter and its python3-nagiosplugin (1.3.2 on Debian 12), seen through
# --system-site-packages, as README's "apt only" installation has them
SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_NAGIOSPLUGIN = "/usr/lib/python3/dist-packages/nagiosplugin/"
WHERE_IS_NAGIOSPLUGIN = (
    "import nagiosplugin; print(nagiosplugin.__version__, nagiosplugin.__file__); "
    f"assert nagiosplugin.__file__.startswith({DEBIAN_NAGIOSPLUGIN!r}), 'not python3-nagiosplugin'"
)


@nox.session(python=SYSTEM_PYTHON, venv_backend="venv", venv_params=["--system-site-packages"])
def debian(session: nox.Session) -> None:
    """The same tests on Debian's /usr/bin/python3 and python3-nagiosplugin."""
    session.install(".[test]")  # pip keeps Debian's nagiosplugin: it meets >=1.3.2,<2
    session.run("python", "-c", WHERE_IS_NAGIOSPLUGIN)
    session.run("python", "-m", "pytest", "-q", "-m", "not integration", *session.posargs)
