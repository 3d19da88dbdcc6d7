"""Fixtures shared by the suites that drive the real monitoring engines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from engines import (
    STOCK_PACKAGES,
    SYSTEM_STATE,
    changes,
    dpkg_field,
    live_engines,
    snapshot,
    unpack_installed,
)
from helpers import ROOT, private_directory, unavailable, user_nagios
from hypothesis import HealthCheck, settings

# The run's own temporary directory and the guard on /tmp; the private daemons of the graph
# and web page suites and their fixtures.
pytest_plugins = ("private_tmp", "graphstack", "webstack")

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="session")
def system_state_untouched():
    """Fails the session if anything changed in the system engines' state, socket, log and
    cache directories while private engines ran: each must write only to its own directory.
    The directories of a system engine that is running here change by themselves and are
    left out, with a warning."""
    if os.geteuid() != 0:  # the engine suites need root; without it they are skipped
        yield
        return
    live = live_engines()
    roots = [root for root in SYSTEM_STATE if not any(engine in str(root) for engine in live)]
    if live:
        running = ", ".join(sorted(live))
        warnings.warn(f"system {running} running: its directories are not guarded", stacklevel=2)
    before = snapshot(roots)
    yield
    changed = changes(before, snapshot(roots))
    assert not changed, "private engines changed system paths:\n" + "\n".join(changed)


@pytest.fixture(scope="session")
def stock(system_state_untouched):
    """Debian's stock configuration of the engines as the installed packages' .deb files
    hold it, a directory a package (see engines.unpack_installed). Taken from the packages,
    not from /etc: a monitoring host's /etc is its administrator's, and what the tests need
    is what a fresh install has, whatever was changed on this machine."""
    if os.geteuid() != 0:
        unavailable(
            "unpacking the stock configuration and running the engines needs root: sudo make test"
        )
    missing = [name for name in STOCK_PACKAGES if "ok installed" not in dpkg_field(name, "Status")]
    if missing:
        unavailable(f"not installed: {', '.join(missing)}: apt-get install {' '.join(missing)}")
    base = private_directory("stock")
    for package in STOCK_PACKAGES:
        unpack_installed(package, base)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def engine_plugins(system_state_untouched):
    """A plugin directory for Icinga 2 and Nagios, set up as README tells administrators:
    a venv on Debian's /usr/bin/python3 outside any home, the plugin linked into the directory.
    The engines run checks as user nagios, who cannot enter root's home."""
    if os.geteuid() != 0 or not Path(SYSTEM_PYTHON).exists():
        unavailable(
            "installing the plugin for user nagios needs root and /usr/bin/python3: sudo make test"
        )
    user_nagios()
    base = private_directory("engines")
    venv, plugins = base / "venv", base / "plugins"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(ROOT)],
        check=True,
        capture_output=True,
    )
    plugins.mkdir()
    (plugins / "check_smtp_helo").symlink_to(venv / "bin" / "check_smtp_helo")
    as_nagios = ["runuser", "-u", "nagios", "--", str(plugins / "check_smtp_helo"), "-V"]
    probe = subprocess.run(as_nagios, capture_output=True, text=True, check=False)
    assert probe.stdout.startswith("check_smtp_helo "), probe
    yield plugins
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mail_lab():
    """The mail domain lab (maillab.py): Knot, Unbound, SMTP servers, the MTA-STS server."""
    from maillab import mail_lab as lab  # noqa: PLC0415 -- cryptography: only its users pay

    with lab() as running:
        yield running


@pytest.fixture
def made_engines():
    """Private engines a test makes; their directories are removed afterwards."""
    engines: list = []
    yield engines
    for engine in engines:
        engine.remove()


# Property tests: a short deterministic profile in make test, a long random one in make fuzz.
settings.register_profile(
    "short",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("FUZZ_PROFILE", "short"))


@pytest.fixture(autouse=True)
def no_secret_left_hidden():
    """A Credentials made in a unit test tells printable() to hide its secret for the rest of
    the process (one password a run, as the plugin runs); the next test starts without it."""
    yield
    text = sys.modules.get("check_smtp_helo.core.text")
    if text is not None:
        text._SECRETS = ()
