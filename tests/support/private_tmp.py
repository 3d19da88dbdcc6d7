"""The run's own temporary directory and the guard on /tmp, a pytest plugin (conftest.py
loads it).

Every program the suite starts inherits TMPDIR, pointed at a directory of the run
(`check_smtp_helo-run-*`, as /tmp is: every user may enter and write, the sticky bit set), which
is removed when the run ends. What still lands in /tmp escaped it: a new entry there that bears a
name the suite's programs give their files fails the run, named. A shared machine's other
programs (another run of these suites included) make entries in /tmp at the same time, so every
other new entry is only named, in a warning, for a human to judge; under CI, on a machine of the
run's own, every new entry fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path

import pytest

SYSTEM_TMP = Path("/tmp")
PREFIX = "check_smtp_helo-run-"
# The names under which the programs this suite runs put files in /tmp when TMPDIR does not
# reach them: Python's tempfile and pytest; PHP (Icinga Web 2's file cache, sessions, uploads
# and tempnam()); Chromium. Not check_smtp_helo-*: the private directories are made in the
# run's directory, and those in /tmp are another run's.
OWN_NAMES = re.compile(
    r"tmp[a-z0-9_]{8}|pytest-of-.+|FileCache_.+|sess_.+|php[A-Za-z0-9]{6}"
    r"|\.org\.chromium\..+|\.com\.google\.Chrome\..+|scoped_dir.+"
)
_RUN = pytest.StashKey[tuple[Path, "str | None", set[str]]]()


@pytest.hookimpl(tryfirst=True)  # before pytest's tmp_path plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """Make the run's directory, where the caller's TMPDIR (or /tmp) is, and point TMPDIR at it;
    pytest's tmp_path directories go there too, unless --basetemp says where, by a short name
    (the plugin cuts long paths in its output, which tests compare)."""
    run = Path(tempfile.mkdtemp(prefix=PREFIX))
    run.chmod(0o1777)  # daemons that dropped root (nagios, postfix) make their files here too
    config.stash[_RUN] = (run, os.environ.get("TMPDIR"), entries())
    os.environ["TMPDIR"] = tempfile.tempdir = str(run)
    if not config.option.basetemp:
        config.option.basetemp = str(run / "t")


def pytest_unconfigure(config: pytest.Config) -> None:
    run, caller, _ = config.stash[_RUN]
    tempfile.tempdir = None
    if caller is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = caller
    shutil.rmtree(run, ignore_errors=True)


def entries() -> set[str]:
    return set(os.listdir(SYSTEM_TMP))


def described(name: str) -> str:
    """An entry of /tmp by its kind, owner and time, so that a human can tell whose it is."""
    try:
        info = (SYSTEM_TMP / name).lstat()
    except FileNotFoundError:
        return f"{SYSTEM_TMP / name} (gone again)"
    kind = "directory" if stat.S_ISDIR(info.st_mode) else "file"
    try:
        owner = Path(SYSTEM_TMP / name).owner()
    except KeyError:
        owner = str(info.st_uid)
    made = time.strftime("%H:%M:%S", time.localtime(info.st_mtime))
    return f"{SYSTEM_TMP / name} ({kind}, owner {owner}, {made})"


def left_in_tmp(before: set[str]) -> tuple[list[str], list[str]]:
    """The new entries of /tmp: the run's strays, and the others' (not those of another run of
    these suites, which keeps its own). Under CI, on a machine of the run's own, every new
    entry is a stray; elsewhere those named as the suite's programs name theirs."""
    new = sorted(entries() - before)
    strict = bool(os.environ.get("CI"))
    strays = [name for name in new if strict or OWN_NAMES.fullmatch(name)]
    others = [n for n in new if n not in strays and not n.startswith("check_smtp_helo-")]
    return strays, others


@pytest.fixture(scope="session", autouse=True)
def nothing_left_in_tmp(request: pytest.FixtureRequest):
    """Fails the run on what it left in /tmp, outside the run's own directory."""
    yield
    strays, others = left_in_tmp(request.config.stash[_RUN][2])
    if others:
        warnings.warn(
            "new in /tmp during the run, not named as this suite's programs name theirs "
            "(another program's?): " + ", ".join(map(described, others)),
            stacklevel=1,
        )
    assert not strays, "left in /tmp, outside the run's own directory:\n" + "\n".join(
        map(described, strays)
    )
