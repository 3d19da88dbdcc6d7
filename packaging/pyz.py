"""make pyz: dist/check_smtp_helo.pyz, the plugin as one file for Debian's /usr/bin/python3.

nagiosplugin, idna and dnspython are inside (vendored, with their licences), so the file runs where
nothing else is installed, and always on the versions it was tested with. The modules are
stored with their bytecode for the target interpreter, beside the sources, where zipimport
looks for it: a check run by user nagios cannot write a cache, and compiling every module on
every run would cost more than the whole check. The bytecode is "unchecked-hash": the archive never
changes, so there is nothing to check. Another Python version ignores it and compiles.
The archive is stored, not deflated: inflating every module cost about 2 ms a run (make bench).

usage: python packaging/pyz.py [--python /usr/bin/python3] dist/check_smtp_helo.pyz
"""

from __future__ import annotations

import argparse
import configparser
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirements() -> list[str]:
    """install_requires of setup.cfg: what the single file carries inside."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["options"]["install_requires"].split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--python", default="/usr/bin/python3", help="interpreter of the shebang")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="check_smtp_helo-pyz-") as staging:
        tree = Path(staging) / "tree"
        # what setup.cfg requires (nagiosplugin, idna, dnspython), and the package's sources
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
             str(tree), *requirements()],
            check=True,
        )  # fmt: skip
        shutil.rmtree(tree / "nagiosplugin" / "examples", ignore_errors=True)  # not needed to run
        shutil.copytree(ROOT / "check_smtp_helo", tree / "check_smtp_helo",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        shutil.copy(ROOT / "check_smtp_helo" / "__main__.py", tree / "__main__.py")
        shutil.copy(ROOT / "LICENSE", tree / "LICENSE")
        subprocess.run(
            [args.python, "-m", "compileall", "-q", "-b", "--invalidation-mode",
             "unchecked-hash", str(tree)],
            check=True,
        )  # fmt: skip
        args.target.parent.mkdir(parents=True, exist_ok=True)
        zipapp.create_archive(tree, args.target, interpreter=args.python)
    print(f"{args.target}: {args.target.stat().st_size // 1024} KiB, runs on {args.python}")


if __name__ == "__main__":
    main()
