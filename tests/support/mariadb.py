"""A private MariaDB on loopback: its own data directory, socket and port, stopped by PID."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from helpers import private_directory, stop_process, unavailable
from servers import free_port

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
CLIENT = "/usr/bin/mariadb"


class MariaDB:
    """mariadbd as root on 127.0.0.1:port; databases and users made with create_database()."""

    def __init__(self) -> None:
        if not all(Path(tool).exists() for tool in (MARIADBD, INSTALL_DB, CLIENT)):
            unavailable("Debian's mariadb-server is not installed: apt-get install mariadb-server")
        if os.geteuid() != 0:
            unavailable("a private MariaDB runs as root here: sudo make test")
        self.base = private_directory("mariadb")
        self.data = self.base / "data"
        self.socket = self.base / "mysqld.sock"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        install = [INSTALL_DB, "--no-defaults", f"--datadir={self.data}", "--user=root",
                   "--auth-root-authentication-method=normal", "--skip-test-db"]  # fmt: skip
        subprocess.run(install, capture_output=True, check=True)
        command = [MARIADBD, "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
                   f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root",
                   f"--pid-file={self.base / 'mariadbd.pid'}", "--skip-log-bin",
                   f"--log-error={self.base / 'error.log'}"]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd ended:\n{self.log()}")
            if self.sql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"mariadbd does not answer:\n{self.log()}")

    def sql(
        self, statements: str, database: str = "", check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run SQL as root through the socket; tab-separated rows without headers."""
        command = [CLIENT, "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B"]
        return subprocess.run(
            [*command, *([database] if database else [])],
            input=statements,
            capture_output=True,
            text=True,
            check=check,
        )

    def create_database(self, name: str, user: str, password: str) -> None:
        """An empty database and a user that may do anything in it, over TCP and the socket."""
        grants = "".join(
            f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}';"
            f"GRANT ALL ON `{name}`.* TO '{user}'@'{host}';"
            for host in ("localhost", "127.0.0.1")
        )
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4;{grants}")

    def stop(self) -> None:
        """SIGTERM by PID, wait, SIGKILL if it will not go; then remove the directory."""
        if self.process is not None:
            stop_process(self.process, 30)
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        path = self.base / "error.log"
        return path.read_text() if path.exists() else "(no log)"
