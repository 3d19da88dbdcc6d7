"""What the Icinga 2 and Nagios suites share: a private directory per engine, every path
setting pointed into it, Debian's stock configuration unpacked from the installed packages, a
daemon run in the foreground until the checks are in, broken copies of the shipped files, the
perfdata-file records both engines write, and a snapshot of the system engines' state
directories that proves the private engines leave them alone."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import owned_by, private_directory, stop_process, unavailable

ICINGA = "/usr/sbin/icinga2"
NAGIOS = "/usr/sbin/nagios4"

# Every path setting of Nagios 4 that has a compiled-in default under /var or /run (see
# `strings /usr/sbin/nagios4`), or that the stock nagios.cfg sets: in a private Nagios each
# points into its own directory, by these names.
NAGIOS_PATHS = {
    "log_file": "nagios.log",
    "log_archive_path": "archives",
    "debug_file": "nagios.debug",
    "object_cache_file": "objects.cache",
    "precached_object_file": "objects.precache",
    "status_file": "status.dat",
    "state_retention_file": "retention.dat",
    "command_file": "rw/nagios.cmd",
    "query_socket": "rw/nagios.qh",
    "lock_file": "nagios.lock",
    "temp_file": "nagios.tmp",
    "temp_path": "tmp",
    "check_result_path": "checkresults",
}
NAGIOS_DIRECTORIES = ("archives", "rw", "tmp", "checkresults")

# Icinga 2's path constants, those it derives from others (PidPath from InitRunDir,
# StatePath and ModAttrPath from DataDir, ObjectsPath and VarsPath from CacheDir) included,
# so that none depends on how it is derived. Not LocalStateDir: setting it makes Icinga
# derive DataDir, LogDir, CacheDir and SpoolDir from it again.
ICINGA_PATHS = {
    "DataDir": "var/lib",
    "LogDir": "var/log",
    "CacheDir": "var/cache",
    "SpoolDir": "var/spool",
    "InitRunDir": "var/run",
    "PidPath": "var/run/icinga2.pid",
    "StatePath": "var/lib/icinga2.state",
    "ModAttrPath": "var/lib/modified-attributes.conf",
    "ObjectsPath": "var/cache/icinga2.debug",
    "VarsPath": "var/cache/icinga2.vars",
}
ICINGA_DIRECTORIES = ("var/lib", "var/log", "var/cache", "var/spool", "var/run")

# Where the system's Nagios and Icinga 2 keep their state, sockets, logs and caches: a
# private engine writes nothing here. /var/run is /run on Debian; both are named, as the
# engines name them.
SYSTEM_STATE = tuple(
    Path(path)
    for path in (
        "/var/lib/nagios4",
        "/var/log/nagios4",
        "/var/run/nagios4",
        "/run/nagios4",
        "/var/lib/icinga2",
        "/var/log/icinga2",
        "/var/cache/icinga2",
        "/var/run/icinga2",
        "/run/icinga2",
    )
)


def nagios_paths(var: Path) -> str:
    """nagios.cfg lines that point every path setting into var, which they create
    (owned by nagios, who writes there once Nagios has dropped root)."""
    owned_by("nagios", var, *(var / name for name in NAGIOS_DIRECTORIES))
    return "".join(f"{setting}={var / name}\n" for setting, name in NAGIOS_PATHS.items())


def icinga_paths(base: Path) -> list[str]:
    """icinga2 -D options that point every path constant into base, which they create."""
    owned_by("nagios", *(base / name for name in ICINGA_DIRECTORIES))
    return [f"-D{constant}={base / name}" for constant, name in ICINGA_PATHS.items()]


# The packages whose files make Debian's stock configuration of the engines: /etc/icinga2,
# /etc/nagios4, and the command definitions that monitoring-plugins installs for Nagios.
STOCK_PACKAGES = (
    "icinga2-common",
    "nagios4-common",
    "monitoring-plugins-basic",
    "monitoring-plugins-standard",
)
APT_CACHE = Path("/var/cache/apt/archives")


def dpkg_field(package: str, field: str) -> str:
    """A field of an installed package (dpkg-query); empty when it is not installed."""
    query = ["dpkg-query", "-W", f"-f=${{{field}}}", package]
    proc = subprocess.run(query, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ""


def unpack_installed(package: str, base: Path) -> Path:
    """The files of the installed version of package as its .deb holds them (apt's cached
    copy, else downloaded), in base/package. Its conffiles must match the checksums dpkg
    recorded when it installed them: the copy is the installed version as shipped."""
    version, arch = dpkg_field(package, "Version"), dpkg_field(package, "Architecture")
    deb = APT_CACHE / f"{package}_{version.replace(':', '%3a')}_{arch}.deb"
    if not deb.exists():
        download = ["apt-get", "download", "-q", f"{package}={version}"]
        subprocess.run(download, cwd=base, check=True, capture_output=True)
        deb = next(base.glob(f"{package}_*.deb"))
    root = base / package
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    for line in dpkg_field(package, "Conffiles").splitlines():
        path, md5 = line.split()[:2]
        shipped = hashlib.md5((root / path.lstrip("/")).read_bytes()).hexdigest()
        assert shipped == md5, f"{package} {version}: {path} differs from what dpkg installed"
    return root


def icinga_daemon(config: Path, base: Path, *extra: str) -> list[str]:
    """icinga2 daemon on config (its zones.d beside it), every path constant in base."""
    return [
        ICINGA,
        "daemon",
        "-c",
        str(config),
        f"-DConfigDir={config.parent}",
        f"-DZonesDir={config.parent / 'zones.d'}",
        *icinga_paths(base),
        *extra,
    ]


def snapshot(roots: Iterable[Path]) -> dict[str, tuple]:
    """Every entry below the roots: type, mode, owner, size, mtime, and a regular file's
    SHA-256; a missing root is recorded as missing."""
    found: dict[str, tuple] = {}
    for root in roots:
        if not root.exists():
            found[str(root)] = ("missing",)
            continue
        for directory, _, files in os.walk(root):
            for path in (directory, *(os.path.join(directory, name) for name in files)):
                info = os.lstat(path)
                digest = ""
                if stat.S_ISREG(info.st_mode):
                    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                found[path] = (
                    stat.filemode(info.st_mode),
                    info.st_uid,
                    info.st_size,
                    info.st_mtime_ns,
                    digest,
                )
    return found


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What differs between two snapshots, one line an entry."""
    return [
        f"{path}: {before.get(path, 'absent')} -> {after.get(path, 'absent')}"
        for path in sorted(before.keys() | after.keys())
        if before.get(path) != after.get(path)
    ]


def live_engines() -> set[str]:
    """The system's own engines that are running (their pid file names a live process)."""
    running = set()
    for engine, pid_file in (
        ("nagios4", "/run/nagios4/nagios4.pid"),
        ("icinga2", "/run/icinga2/icinga2.pid"),
    ):
        try:
            os.kill(int(Path(pid_file).read_text().split()[0]), 0)
        except (OSError, ValueError, IndexError):
            continue
        running.add(engine)
    return running


@contextmanager
def system_state_stand_ins() -> Iterator[tuple[list[str], list[Path]]]:
    """A command prefix that runs a command in a mount namespace where empty copies of the
    system state directories (their subdirectories, owners and modes) stand in for the
    originals, and those copies: what a private engine writes to a system default lands in
    a copy, where snapshot() sees it, and the system stays as it is."""
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        unavailable(
            f"no mount namespace here (unshare --mount: {probe.stderr.decode().strip()}): "
            "run as root, on a machine or in a container that allows unshare"
        )
    base = private_directory("system-state")
    binds, copies = [], []
    for root in sorted({path.resolve() for path in SYSTEM_STATE if path.is_dir()}):
        copy = base / str(root).strip("/").replace("/", "_")
        for directory, _, _ in os.walk(root):
            twin = copy / os.path.relpath(directory, root)
            twin.mkdir(parents=True, exist_ok=True)
            info = os.stat(directory)
            os.chown(twin, info.st_uid, info.st_gid)
            twin.chmod(stat.S_IMODE(info.st_mode))
        binds.append(f"mount --bind {shlex.quote(str(copy))} {shlex.quote(str(root))}")
        copies.append(copy)
    script = " && ".join([*binds, 'exec "$@"'])
    try:
        yield ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"], copies
    finally:
        shutil.rmtree(base, ignore_errors=True)


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
                stop_process(daemon)
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
    """Perfdata-file records 'SERVICE::name<TAB>STATE::...' by service; the latest wins. A
    record starts a line with 'SERVICE::'; Icinga 2's $service.output$ holds the long output
    too, so the lines up to the next record belong to it."""
    chunks = re.split(r"^(?=SERVICE::)", text, flags=re.MULTILINE)
    fields = (chunk.rstrip("\n").split("\t") for chunk in chunks if chunk.strip())
    return {
        record["SERVICE"]: record
        for record in (dict(f.split("::", 1) for f in fs) for fs in fields)
    }
