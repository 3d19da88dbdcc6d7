"""What the Icinga 2 and Nagios suites share: a private directory per engine, a daemon run
in the foreground until the checks are in, broken copies of the shipped files, and the
perfdata-file records both engines write."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from helpers import private_directory


class PrivateEngine:
    """An engine's private directory; subclasses write its configuration there."""

    def __init__(self, name: str) -> None:
        self.base = private_directory(name)

    def run_until(self, command: list[str], done: Callable[[], bool], timeout: float = 60) -> None:
        """Run the daemon in the foreground until done() or the timeout, then stop it
        (SIGTERM, then SIGKILL), whatever happened."""
        log_path = self.base / "daemon.log"
        with log_path.open("w") as log:
            daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and not done():
                    assert daemon.poll() is None, log_path.read_text()
                    time.sleep(0.2)
            finally:
                daemon.terminate()
                try:
                    daemon.wait(15)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
        assert done(), log_path.read_text()

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def broken_copy(shipped: Path, file: str, old: str, new: str) -> Path:
    """A copy of the shipped files with one change, where an engine running as nagios reads it."""
    broken = private_directory("broken") / shipped.name
    shutil.copytree(shipped, broken)
    text = (broken / file).read_text()
    assert old in text, (file, old)
    (broken / file).write_text(text.replace(old, new, 1))
    return broken


def records(text: str) -> dict[str, dict[str, str]]:
    """Perfdata-file lines 'SERVICE::name<TAB>STATE::...' by service; the latest line wins."""
    lines = (dict(field.split("::", 1) for field in line.split("\t")) for line in text.splitlines())
    return {record["SERVICE"]: record for record in lines}
