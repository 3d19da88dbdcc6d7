"""The guard on /tmp (private_tmp.py) in a run of its own: what a test leaves in /tmp fails
the run, named; what goes where TMPDIR points is the run's own and removed with it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import private_tmp
from private_tmp import SYSTEM_TMP

SUPPORT = Path(private_tmp.__file__).resolve().parent  # where the plugin is importable from
SUITE = """\
import tempfile
from pathlib import Path


def test_keeps_its_files_where_tmpdir_points():
    Path("kept").write_text(tempfile.mkdtemp())


def test_leaves_an_entry_in_tmp():
    Path("stray").write_text(tempfile.mkdtemp(dir="/tmp"))  # as a program blind to TMPDIR
"""


def test_a_run_that_leaves_an_entry_in_tmp_fails_and_names_it(tmp_path):
    (tmp_path / "test_leaving.py").write_text(SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "private_tmp",
         "test_leaving.py"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
        env={**os.environ, "PYTHONPATH": str(SUPPORT)},
    )  # fmt: skip
    stray = Path((tmp_path / "stray").read_text())
    shutil.rmtree(stray)
    kept = Path((tmp_path / "kept").read_text())
    assert stray.parent == SYSTEM_TMP
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "left in /tmp, outside the run's own directory:" in proc.stdout, proc.stdout
    assert f"  {stray} (directory, owner " in proc.stdout, proc.stdout
    # (a warning names what other programs made in /tmp meanwhile)
    assert re.match(r"2 passed, (\d+ warnings?, )?1 error in ", proc.stdout.splitlines()[-1])
    # the other test's directory was in the run's own, which is gone with the run
    assert kept.parent.name.startswith("check_smtp_helo-run-"), kept
    assert not kept.parent.exists()
