"""Run the installed check_smtp_helo and read its output the way a monitoring core does."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

import pytest

CHECK = str(Path(sys.executable).with_name("check_smtp_helo"))
ROOT = Path(__file__).resolve().parents[2]

# Plugin guidelines: 'label'=value[UOM];[warn];[crit];[min];[max], plain decimals only.
_DECIMAL = r"-?\d+(?:\.\d+)?"
_THRESHOLD = rf"@?(?:(?:~|{_DECIMAL}):)?(?:{_DECIMAL})?"
PERFDATA_ITEM = re.compile(
    rf"(?P<label>[A-Za-z_][\w]*)=(?P<value>{_DECIMAL})(?P<uom>s|ms|us|%|B|KB|MB|TB|c)?"
    rf"(?:;(?P<warn>{_THRESHOLD})(?:;(?P<crit>{_THRESHOLD})"
    rf"(?:;(?P<min>{_DECIMAL})?(?:;(?P<max>{_DECIMAL})?)?)?)?)?\Z"
)
Perf = namedtuple("Perf", "value uom warn crit min max")

TIME = "{time}"  # stands for a measured time in a status-line template ...
TIME_PATTERN = r"(?:\d+\.\d ms|\d+\.\d{3}s)"  # ... below one second in ms, else in seconds
LOOPBACK = "127.0.0.1"
HELO = ("-F", "monitor.example.com")  # a fixed EHLO argument: the machine's name varies


class Run:
    """One finished run of the plugin."""

    def __init__(self, args: list[str], proc: subprocess.CompletedProcess, elapsed: float):
        self.args = args
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        self.lines = proc.stdout.splitlines()
        first = self.lines[0] if self.lines else ""
        self.status, _, self.perfdata_text = first.partition(" | ")
        self.long = self.lines[1:]

    @property
    def perfdata(self) -> dict[str, Perf]:
        return parse_perfdata(self.perfdata_text)

    def __repr__(self) -> str:
        return f"Run({self.args}, code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def parse_perfdata(text: str) -> dict[str, Perf]:
    """Perfdata items by label; an item that breaks the guidelines fails the test."""
    items = {}
    for item in text.split():
        match = PERFDATA_ITEM.match(item)
        assert match, f"perfdata item breaks the plugin guidelines: {item!r}"
        fields = match.groupdict(default="")
        label = fields.pop("label")
        items[label] = Perf(**fields)
    return items


def run_check(*args: str, timeout: float = 60, env: dict | None = None) -> Run:
    """Run the console script with stdout that accepts ASCII only, as in an ASCII locale."""
    environment = {**os.environ, "PYTHONIOENCODING": "ascii:strict", "LC_ALL": "C", **(env or {})}
    started = time.monotonic()
    proc = subprocess.run(
        [CHECK, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )
    return Run(list(args), proc, time.monotonic() - started)


def check_server(
    port: int, *extra: str, host: str = LOOPBACK, helo: bool = True, **run: object
) -> Run:
    """Run the plugin against a test server: -H host -p port, the fixed EHLO argument (unless
    helo=False), then the extra arguments."""
    return run_check("-H", host, "-p", str(port), *(HELO if helo else ()), *extra, **run)


def assert_status(run: Run, code: int, template: str) -> None:
    """Exit code and the status line exactly, where {time} stands for a measured time."""
    pattern = re.escape(template).replace(re.escape(TIME), TIME_PATTERN)
    assert run.code == code, run
    assert re.fullmatch(pattern, run.status), f"\n{run.status!r}\n!~\n{template!r}"
    assert "Traceback" not in run.stdout + run.stderr, run


def assert_phases(
    run: Run,
    labels: set[str],
    *,
    time_thresholds: tuple[str, str] | None = None,
    timeout: str = "10",
) -> None:
    """Exactly these perfdata labels, in seconds with min 0; time has its thresholds and max."""
    assert set(run.perfdata) == labels, run
    for label, perf in run.perfdata.items():
        assert perf.uom == "s" and perf.min == "0", (label, perf)
        assert re.fullmatch(r"\d+\.\d{6}", perf.value), (label, perf)
        if label == "time":
            warn, crit = time_thresholds or ("", "")
            assert (perf.warn, perf.crit, perf.max) == (warn, crit, timeout), perf
        else:
            assert (perf.warn, perf.crit, perf.max) == ("", "", ""), (label, perf)


def assert_within(run: Run, timeout: float) -> None:
    """The run ended within -t plus one second."""
    assert run.elapsed <= timeout + 1, f"took {run.elapsed:.2f}s with -t {timeout}"


def unavailable(reason: str) -> None:
    """Skip a test whose engine or server is missing here; in CI, which installs it, fail."""
    __tracebackhide__ = True  # the skip is reported where the test called this
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run this test")
    pytest.skip(reason)


def user_nagios() -> None:
    """Skips (fails in CI) where there is no user nagios, as whom the engines run checks."""
    __tracebackhide__ = True
    try:
        pwd.getpwnam("nagios")
    except KeyError:
        unavailable(
            "there is no user nagios, whom an engine's package makes: apt-get install icinga2-bin"
        )


def private_directory(prefix: str) -> Path:
    """A fresh directory that daemons running as other users (nagios, postfix) can enter."""
    directory = Path(tempfile.mkdtemp(prefix=f"check_smtp_helo-{prefix}-"))
    directory.chmod(0o755)
    return directory


def owned_by(user: str, *directories: Path) -> None:
    """Create the directories, owned by user: where a daemon that dropped root writes."""
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(directory, user, user)


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM a daemon by its PID and wait; SIGKILL when it will not go in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
